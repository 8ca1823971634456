"""Test helper: prove that a piece of code never unpickles.

Inside ``with forbid_unpickling():`` every way this process could unpickle raises
:class:`UnpicklingForbidden`: ``pickle.load``/``loads``/``Unpickler`` (also as
re-exported by any loaded ``cloudpickle``, e.g. ``ray.cloudpickle``, which RLlib's
checkpoints use), ``torch.load`` unless ``weights_only=True``, and ``numpy.load``
with ``allow_pickle=True``. Used to check that loading a pickle-free policy stays
pickle-free; the same guard makes RLlib's own checkpoint loading fail, which the
tests check too, so it cannot pass vacuously.
"""

from __future__ import annotations

import pickle
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class UnpicklingForbidden(AssertionError):
    """Something tried to unpickle inside :func:`forbid_unpickling`."""


def _refuse(what: str) -> Any:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise UnpicklingForbidden(f"{what} called inside forbid_unpickling()")

    return refuse


class _RefusingUnpickler(pickle.Unpickler):
    def load(self) -> Any:
        raise UnpicklingForbidden("pickle.Unpickler.load called inside forbid_unpickling()")


def _patches() -> list[tuple[Any, str, Any]]:
    out: list[tuple[Any, str, Any]] = [
        (pickle, "load", _refuse("pickle.load")),
        (pickle, "loads", _refuse("pickle.loads")),
        (pickle, "Unpickler", _RefusingUnpickler),
    ]
    for name, mod in list(sys.modules.items()):
        if name.endswith("cloudpickle") and mod is not None:
            for attr in ("load", "loads"):
                if hasattr(mod, attr):
                    out.append((mod, attr, _refuse(f"{name}.{attr}")))
    torch = sys.modules.get("torch")
    if torch is not None:
        real = torch.load

        def torch_load(*args: Any, weights_only: Any = None, **kwargs: Any) -> Any:
            if weights_only is not True:
                raise UnpicklingForbidden("torch.load without weights_only=True called "
                                          "inside forbid_unpickling()")
            return real(*args, weights_only=True, **kwargs)

        out.append((torch, "load", torch_load))
    np = sys.modules.get("numpy")
    if np is not None:
        real_np = np.load

        def np_load(*args: Any, allow_pickle: bool = False, **kwargs: Any) -> Any:
            if allow_pickle:
                raise UnpicklingForbidden("numpy.load(allow_pickle=True) called inside "
                                          "forbid_unpickling()")
            return real_np(*args, allow_pickle=False, **kwargs)

        out.append((np, "load", np_load))
    return out


@contextmanager
def forbid_unpickling() -> Iterator[None]:
    """Make every unpickling entry point raise until the block ends."""
    patches = _patches()
    saved = [(obj, attr, getattr(obj, attr)) for obj, attr, _ in patches]
    try:
        for obj, attr, new in patches:
            setattr(obj, attr, new)
        yield
    finally:
        for obj, attr, old in reversed(saved):
            setattr(obj, attr, old)
