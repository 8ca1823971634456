"""Fuzzing ``step()`` of any :class:`~heron.envs.base.HeronParallelEnv` with bad actions.

One generator of step inputs (a mix of valid actions and labelled garbage) and one
judge of the outcome, shared by the fuzz tests and ``bench/bench_fuzz_campaign.py``
so that both hold the env to the same contract (see ``heron.envs.base``):

* garbage -> :class:`~heron.core.action.ActionError` (or ``KeyError``/``ValueError``)
  whose message names the agent at fault, and the env exactly as before the call;
* a valid action -> a step with finite observations and rewards.

Valid inputs include what the env documents as accepted: native-size and padded
arrays, ``(1, n)`` arrays, Python lists and ints, per-device dicts and finite values
far outside the box (clipped). Domain-agnostic: only spaces, ``action_layout`` and
agent states are used; a domain adds its own state through ``snapshot(extra=...)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["GARBAGE_KINDS", "VALID_KINDS", "Counts", "judge", "make_step_input", "snapshot",
           "snapshots_equal"]

VALID_KINDS = ("padded", "native", "list", "batch_of_one", "dict", "out_of_range", "huge",
               "ints")
GARBAGE_KINDS = ("not_a_dict", "missing_agent", "extra_agent", "wrong_length", "empty",
                 "nan", "inf", "none", "string", "numeric_string", "ragged", "nested_wrong",
                 "none_inside", "complex", "big_int", "dict_empty", "dict_partial",
                 "dict_extra_key", "dict_part_wrong", "dict_part_nan", "dict_part_none")


def _native_n(env: Any, agent: str) -> int:
    return int(env.native_action_spaces[agent].shape[0])


def _padded_n(env: Any, agent: str) -> int:
    return int(env.action_space(agent).shape[0])


def _valid_action(env: Any, agent: str, kind: str, rng: np.random.Generator) -> Any:
    n, p = _native_n(env, agent), _padded_n(env, agent)
    size = p if kind == "padded" else n
    a = rng.uniform(-1.0, 1.0, size=size)
    if kind == "list":
        return a.tolist()
    if kind == "batch_of_one":
        return a.reshape(1, -1)
    if kind == "out_of_range":
        return a * rng.uniform(1.0, 50.0)
    if kind == "huge":
        return np.where(rng.random(size) < 0.5, a, np.sign(a) * 10.0 ** rng.uniform(6, 300, size))
    if kind == "ints":
        return [int(v) for v in rng.integers(-3, 4, size=size)]
    if kind == "dict":
        out, i = {}, 0
        for part, k in env.action_layout(agent).items():
            out[part] = a[i:i + k]
            i += k
        return out
    return a


def _wrong_sizes(env: Any, agent: str) -> list[int]:
    ok = {_native_n(env, agent), _padded_n(env, agent)}
    return [s for s in (0, 1, 2, _native_n(env, agent) + 1, _padded_n(env, agent) + 1, 7, 50)
            if s not in ok]


def _garbage_action(env: Any, agent: str, kind: str, rng: np.random.Generator) -> Any:
    """A malformed action for one agent (the agent-level garbage kinds)."""
    n = _native_n(env, agent)
    good = rng.uniform(-1, 1, size=n)
    layout = env.action_layout(agent)
    parts = list(layout)
    if kind == "wrong_length":
        sizes = _wrong_sizes(env, agent)
        return rng.uniform(-1, 1, size=sizes[int(rng.integers(len(sizes)))])
    if kind == "empty":
        return [] if n else [0.0]
    if kind in ("nan", "inf"):
        size = _padded_n(env, agent) if rng.random() < 0.5 else n
        a = rng.uniform(-1, 1, size=size)
        a[int(rng.integers(size))] = np.nan if kind == "nan" else float(rng.choice([-1, 1])) * np.inf
        return a if rng.random() < 0.5 else a.tolist()
    if kind == "none":
        return None
    if kind == "string":
        return str(rng.choice(["abc", "", "nan", "[0, 0]", "MG1"]))
    if kind == "numeric_string":
        return ["0.5"] * n if n else "0.5"
    if kind == "ragged":
        return [[0.0] * (n + 1), [0.0]]
    if kind == "nested_wrong":  # rectangular, but holding a wrong number of values
        sizes = [k for k in _wrong_sizes(env, agent) if k > 0]
        k = sizes[int(rng.integers(len(sizes)))]
        return [[[v] for v in rng.uniform(-1, 1, size=k).tolist()]]
    if kind == "none_inside":
        a = good.tolist() or [0.0]
        a[int(rng.integers(len(a)))] = None
        return a
    if kind == "complex":
        return good.astype(complex) + 1j if n else [1j]
    if kind == "big_int":
        return [10 ** 400] * max(n, 1)
    if kind == "dict_empty":
        return {}
    if kind == "dict_partial":
        d = _valid_action(env, agent, "dict", rng)
        d.pop(parts[int(rng.integers(len(parts)))])
        return d
    if kind == "dict_extra_key":
        d = _valid_action(env, agent, "dict", rng)
        d["no_such_device"] = [0.0]
        return d
    if kind in ("dict_part_wrong", "dict_part_nan", "dict_part_none"):
        d = _valid_action(env, agent, "dict", rng)
        part = parts[int(rng.integers(len(parts)))]
        d[part] = {"dict_part_wrong": np.zeros(layout[part] + 1),
                   "dict_part_nan": np.full(layout[part], np.nan),
                   "dict_part_none": None}[kind]
        return d
    raise ValueError(f"unknown garbage kind {kind!r}")


def make_step_input(env: Any, rng: np.random.Generator, p_valid: float = 0.5
                    ) -> tuple[Any, str, str | None]:
    """``(actions, kind, culprit)``: a ``step()`` input, its kind, and the agent the error
    must name (``None`` for a valid input; an agent id, or ``"*"`` when any live agent id
    will do, e.g. for a list instead of a dict)."""
    agents = list(env.agents)
    if rng.random() < p_valid:
        kind = str(rng.choice(VALID_KINDS))
        return {a: _valid_action(env, a, kind, rng) for a in agents}, kind, None
    kind = str(rng.choice(GARBAGE_KINDS))
    actions = {a: _valid_action(env, a, str(rng.choice(VALID_KINDS)), rng) for a in agents}
    victim = agents[int(rng.integers(len(agents)))]
    if kind == "not_a_dict":
        choice = int(rng.integers(5))
        bad = [list(actions.values()), "abc", None, np.zeros(3), 42][choice]
        return bad, kind, "*"
    if kind == "missing_agent":
        actions.pop(victim)
        return actions, kind, victim
    if kind == "extra_agent":
        ghost = str(rng.choice(["MGX", "mg1", "", "DSO"]))
        actions[ghost if ghost not in env.agent_dict else ghost + "_x"] = np.zeros(2)
        return actions, kind, "*"
    actions[victim] = _garbage_action(env, victim, kind, rng)
    return actions, kind, victim


def snapshot(env: Any, extra: Callable[[Any], list[np.ndarray]] | None = None) -> list[Any]:
    """Everything a rejected step must leave as it was: the global state, each agent's
    observation, every agent's and device's full state and scalar attributes (timers),
    the time index and the RNG (plus ``extra(env)``, the domain's own arrays)."""
    out: list[Any] = [np.array(env.state(), copy=True), int(env._t), list(env.agents),
                      repr(env.np_random.bit_generator.state)]
    out.extend(np.array(o, copy=True) for o in env._all_obs().values())
    for agent in env.agent_dict.values():
        for a in (agent, *agent.subordinate_agents.values()):
            out.append(np.array(a.state.to_array("owner"), copy=True))
            out.append({k: v for k, v in vars(a).items()
                        if isinstance(v, (bool, int, float, str)) or v is None})
    if extra is not None:
        out.extend(np.array(x, copy=True) for x in extra(env))
    return out


def _equal(x: Any, y: Any) -> bool:
    if isinstance(x, np.ndarray):
        return isinstance(y, np.ndarray) and x.shape == y.shape and bool(
            np.array_equal(x, y, equal_nan=True))
    if isinstance(x, dict):
        return x.keys() == y.keys() and all(_equal(x[k], y[k]) for k in x)
    if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
        return True
    return x == y


def snapshots_equal(a: list[Any], b: list[Any]) -> bool:
    return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))


@dataclass
class Counts:
    """What a fuzz run saw; the contract holds when the last three are 0."""

    tried: int = 0
    valid_steps: int = 0
    clear_errors: int = 0
    bare_errors: int = 0
    silent_acceptances: int = 0
    non_finite_outputs: int = 0
    state_changed_on_error: int = 0
    examples: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        if len(self.examples) < 10:
            self.examples.append(text)

    def add(self, other: Counts) -> None:
        for k in ("tried", "valid_steps", "clear_errors", "bare_errors", "silent_acceptances",
                  "non_finite_outputs", "state_changed_on_error"):
            setattr(self, k, getattr(self, k) + getattr(other, k))
        for e in other.examples:
            self.note(e)


DOCUMENTED = (KeyError, ValueError)  # ActionError is a ValueError, ActionKeyError a KeyError


def names_culprit(exc: BaseException, culprit: str, agents: list[str]) -> bool:
    text = str(exc)
    if culprit == "*":
        return any(a in text for a in agents)
    return repr(culprit) in text or culprit in text


def judge(env: Any, actions: Any, culprit: str | None, counts: Counts, kind: str,
          before: list[Any] | None = None,
          extra: Callable[[Any], list[np.ndarray]] | None = None
          ) -> tuple[bool, list[Any] | None]:
    """Step ``env`` with ``actions`` and count the outcome.

    Returns ``(stepped, snapshot)``: the snapshot after a rejection (the env's state
    then, reusable as ``before`` of the next garbage input), else None. ``before`` is
    :func:`snapshot` of the env now (taken here when not given).
    """
    counts.tried += 1
    agents = list(env.agents)
    if culprit is not None and before is None:
        before = snapshot(env, extra)
    try:
        obs, rew, _, _, _ = env.step(actions)
    except DOCUMENTED as exc:
        if culprit is None:
            counts.bare_errors += 1
            counts.note(f"valid {kind} rejected: {type(exc).__name__}: {exc}")
            return False, None
        if not names_culprit(exc, culprit, agents):
            counts.bare_errors += 1
            counts.note(f"{kind}: message does not name {culprit!r}: {exc}")
        else:
            counts.clear_errors += 1
        after = snapshot(env, extra)
        if not snapshots_equal(before, after):
            counts.state_changed_on_error += 1
            counts.note(f"{kind}: state changed by a rejected step")
        return False, after
    except Exception as exc:  # anything else is a bare error by definition
        counts.bare_errors += 1
        counts.note(f"{kind}: {type(exc).__name__}: {exc}")
        return False, None
    if culprit is not None:
        counts.silent_acceptances += 1
        counts.note(f"garbage {kind} accepted for {culprit!r}")
    else:
        counts.valid_steps += 1
    values = [np.asarray(o, dtype=np.float64) for o in obs.values()]
    if not all(np.isfinite(v).all() for v in values) or not all(
            np.isfinite(float(r)) for r in rew.values()):
        counts.non_finite_outputs += 1
        counts.note(f"{kind}: non-finite observation or reward")
    return True, None
