"""``--overlap``: one process collects the next batch while this one runs the PPO update.

Why not TorchRL's ``MultiAsyncCollector``: handed the learner's actor, it shares the
actor's tensors with the worker, and even with ``policy_factory`` plus
``MultiProcessWeightSyncScheme`` the weights it sends arrive as views of the learner's
storage. Measured: a batch started before an update acted with weights written during
that update. The run then depends on timing and a seed no longer repeats it.

Here the hand-over is explicit. When the learner takes batch k it sends a *copy* of
its current weights (those after update k-1) and the worker starts batch k+1 with
them. The learner meanwhile updates on batch k. Each batch therefore comes from the
policy one update older, whatever the timing. PPO takes its ratio against the
log-probabilities stored with the batch, the ones of the policy that acted, so the
clipping still means what it says. The worker steps TorchRL's own ``Collector``.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterator
from typing import Any

import torch

#: Seconds between liveness checks while waiting for a batch.
_POLL_S = 1.0


def _worker(conn: Any, make_env: Callable[[], Any], make_actor: Callable[[], Any],
            frames_per_batch: int, seed: int) -> None:
    """Collector process: wait for weights, collect one batch with them, send it back."""
    try:
        from torchrl.collectors import Collector

        torch.set_num_threads(1)
        torch.manual_seed(seed)
        actor = make_actor()
        collector = Collector(make_env(), actor, frames_per_batch=frames_per_batch,
                              total_frames=-1, auto_register_policy_transforms=False)
        batches = iter(collector)
        while True:
            msg, weights = conn.recv()
            if msg == "stop":
                break
            actor.load_state_dict(weights)
            # a clone: the collector may reuse its buffers for the next batch
            conn.send(("batch", next(batches).clone()))
        collector.shutdown()
    except (EOFError, KeyboardInterrupt):  # the learner went away: nothing to report to
        pass
    except Exception:  # noqa: BLE001 - reported to the learner, which raises it
        conn.send(("error", traceback.format_exc()))


class OverlappedCollector:
    """Iterate to get batches. Each ``next()`` hands the worker a copy of ``actor``'s
    current weights for the batch after the one it returns (module docstring).

    Args:
        make_env: builds the worker's TorchRL env (picklable: it runs in the worker).
        make_actor: builds an actor of the learner's layout (picklable).
        actor: the learner's actor, whose weights are copied at each hand-over.
        frames_per_batch: env steps per batch.
        seed: torch seed of the worker (its exploration noise).
    """

    def __init__(self, make_env: Callable[[], Any], make_actor: Callable[[], Any], actor: Any,
                 frames_per_batch: int, seed: int) -> None:
        ctx = torch.multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._actor = actor
        self._proc = ctx.Process(target=_worker, name="heron-overlap-collector", daemon=True,
                                 args=(child, make_env, make_actor, int(frames_per_batch),
                                       int(seed)))
        self._proc.start()
        child.close()
        self._in_flight = False

    def _send_weights(self) -> None:
        weights = {k: v.detach().clone() for k, v in self._actor.state_dict().items()}
        self._conn.send(("collect", weights))
        self._in_flight = True

    def _receive(self) -> Any:
        while not self._conn.poll(_POLL_S):
            if not self._proc.is_alive():
                raise RuntimeError(f"the overlap collector process died (exit code "
                                   f"{self._proc.exitcode}) before sending its batch; run "
                                   "without --overlap to see the error in this process.")
        try:
            msg, payload = self._conn.recv()
        except EOFError as exc:
            raise RuntimeError("the overlap collector process closed its pipe before "
                               "sending its batch; run without --overlap to see why.") from exc
        self._in_flight = False
        if msg == "error":
            raise RuntimeError(f"the overlap collector process failed:\n{payload}")
        return payload

    def __iter__(self) -> Iterator[Any]:
        if not self._in_flight:
            self._send_weights()
        while True:
            batch = self._receive()
            self._send_weights()  # the next batch starts now, with today's weights
            yield batch

    def shutdown(self) -> None:
        """Stop the worker (a batch in flight is discarded)."""
        if self._proc.is_alive():
            try:
                if self._in_flight:
                    self._receive()
                self._conn.send(("stop", None))
            except (OSError, RuntimeError, EOFError):
                pass
            self._proc.join(timeout=10)
            if self._proc.is_alive():
                self._proc.terminate()
                self._proc.join(timeout=5)
        self._conn.close()
