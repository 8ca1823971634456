"""Feature blocks: typed, named pieces of agent state that flatten to vectors.

RL libraries want flat float vectors; humans and physics code want named fields.
A :class:`FeatureBlock` is a dataclass that is both: its numeric fields (scalars
and numpy arrays) flatten in declaration order with :meth:`to_array`, and
:meth:`names` says what each entry means, which keeps observation vectors
debuggable.

Each block declares who may see it (``visibility``). This is what makes partial
observability explicit instead of an accident of which arrays got concatenated:

* ``owner``       only the agent that owns the block;
* ``upper_level`` the owner and the agents above it in the hierarchy;
* ``system``      additionally the system-level agent (e.g. a DSO);
* ``public``      every agent.
"""

from __future__ import annotations

import copy
import dataclasses
import operator
from typing import Any, ClassVar

import numpy as np

VISIBILITY_LEVELS: tuple[str, ...] = ("owner", "upper_level", "system", "public")
_RANK = {name: i for i, name in enumerate(VISIBILITY_LEVELS)}


def _check_visibility(value: str) -> str:
    if value not in _RANK:
        raise ValueError(
            f"Unknown visibility {value!r}. Use one of {list(VISIBILITY_LEVELS)}."
        )
    return value


def is_visible(visibility: str, relation: str) -> bool:
    """Whether a block with ``visibility`` may be seen by an observer with ``relation``.

    ``relation`` is the observer's relation to the block's owner, expressed with the
    same vocabulary: ``owner`` (itself), ``upper_level`` (a superior), ``system``
    (the system agent) or ``public`` (anyone else). Visibility levels are nested, so
    a block is visible when the observer is at least as close as the level allows.
    """
    return _RANK[_check_visibility(relation)] <= _RANK[_check_visibility(visibility)]


def _is_numeric(value: Any) -> bool:
    if isinstance(value, (bool, int, float, np.number, np.bool_)):
        return True
    return isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.number)


_SCALARS = (float, int, bool)
#: dtype kinds of ``np.number`` (what ``np.issubdtype(dtype, np.number)`` accepts: timedelta
#: too, bool not)
_NUMBER_KINDS = frozenset("iufcm")
#: real arrays up to this size are read as Python numbers (one conversion for a whole
#: observation); larger ones are concatenated, which is cheaper per element
_LISTABLE_KINDS = frozenset("iuf")
_LISTABLE_SIZE = 256
_FIELD_CACHE: dict[type, tuple[str, ...]] = {}
_GETTER_CACHE: dict[type, Any] = {}
#: per block class, the field types of its last flattening when all were plain scalars
_SCALAR_LAYOUT: dict[type, tuple[type, ...]] = {}


def _field_values(cls: type) -> Any:
    """A function giving a block's field values as a tuple, in declaration order (cached)."""
    getter = _GETTER_CACHE.get(cls)
    if getter is None:
        names = _field_names(cls)
        if len(names) == 1:
            name = names[0]

            def getter(block: Any) -> tuple[Any, ...]:
                return (getattr(block, name),)
        else:
            getter = operator.attrgetter(*names) if names else (lambda block: ())
        _GETTER_CACHE[cls] = getter
    return getter


def _field_names(cls: type) -> tuple[str, ...]:
    """Dataclass field names, cached: observations are built every env step."""
    names = _FIELD_CACHE.get(cls)
    if names is None:
        names = tuple(f.name for f in dataclasses.fields(cls))
        _FIELD_CACHE[cls] = names
    return names


@dataclasses.dataclass
class FeatureBlock:
    """Base class for feature dataclasses.

    Subclasses are plain ``@dataclass`` classes with numeric fields. Fields whose
    value is not numeric (names, ids) are carried along but not flattened.
    Override the class attribute ``visibility`` to restrict who sees the block.
    """

    visibility: ClassVar[str] = "public"

    # -- introspection -------------------------------------------------------------
    def _numeric_items(self) -> list[tuple[str, Any]]:
        return [(name, getattr(self, name)) for name in _field_names(type(self))
                if _is_numeric(getattr(self, name))]

    def names(self) -> list[str]:
        """One label per entry of :meth:`to_array`, e.g. ``['p_MW', 'vm_pu[0]', ...]``."""
        out: list[str] = []
        for name, value in self._numeric_items():
            if isinstance(value, np.ndarray):
                out.extend(f"{name}[{i}]" for i in range(value.size))
            else:
                out.append(name)
        return out

    @property
    def size(self) -> int:
        return sum(
            v.size if isinstance(v, np.ndarray) else 1 for _, v in self._numeric_items()
        )

    # -- flattening ----------------------------------------------------------------
    def to_array(self) -> np.ndarray:
        """Flatten numeric fields in declaration order to a float64 vector."""
        return flatten_blocks((self,))

    def set_from_array(self, arr: np.ndarray) -> None:
        """Overwrite numeric fields in place from a flat vector (shapes are kept)."""
        arr = np.asarray(arr, dtype=np.float64).ravel()
        if arr.size != self.size:
            raise ValueError(
                f"{type(self).__name__}.from_array: expected {self.size} values "
                f"({', '.join(self.names())}), got {arr.size}."
            )
        offset = 0
        for name, value in self._numeric_items():
            if isinstance(value, np.ndarray):
                n = value.size
                setattr(self, name, arr[offset:offset + n].reshape(value.shape).astype(value.dtype))
                offset += n
            else:
                raw = arr[offset]
                if isinstance(value, (bool, np.bool_)):
                    setattr(self, name, bool(raw))
                elif isinstance(value, (int, np.integer)):
                    setattr(self, name, int(round(raw)))
                else:
                    setattr(self, name, float(raw))
                offset += 1

    @classmethod
    def from_array(cls, arr: np.ndarray, like: FeatureBlock | None = None) -> FeatureBlock:
        """Rebuild a block from a flat vector.

        Array fields take their shapes from ``like`` (or from the class defaults),
        because a flat vector alone cannot say how long each array was.
        """
        block = copy.deepcopy(like) if like is not None else cls()
        block.set_from_array(arr)
        return block

    def copy(self) -> FeatureBlock:
        return copy.deepcopy(self)


def flatten_blocks(blocks: Any) -> np.ndarray:
    """The numeric fields of ``blocks``, block after block, as one float64 vector.

    Why one function for a block and for a whole state: observations are built every
    env step from a dozen small blocks, and a numpy call per block (or per field)
    costs more than the values themselves. Scalars and the values of small real
    arrays are gathered in one Python list and converted once; large arrays join
    through ``np.concatenate``. A block that overrides :meth:`FeatureBlock.to_array`
    contributes what its override returns.
    """
    parts: list[Any] = []
    run: list[Any] = []
    for block in blocks:
        cls = type(block)
        if cls.to_array is not FeatureBlock.to_array:
            if run:
                parts.append(run)
                run = []
            parts.append(np.asarray(block.to_array(), dtype=np.float64).ravel())
            continue
        values = _field_values(cls)(block)
        types = tuple(map(type, values))
        if types == _SCALAR_LAYOUT.get(cls):  # the usual case: the same plain scalars
            run.extend(values)
            continue
        scalars_only = True
        for v in values:
            if type(v) in _SCALARS:
                run.append(v)
                continue
            scalars_only = False
            if isinstance(v, np.ndarray):
                kind = v.dtype.kind
                if kind in _LISTABLE_KINDS and v.size <= _LISTABLE_SIZE:
                    run.extend(v.ravel().tolist())  # exact: Python floats/ints
                elif kind in _NUMBER_KINDS:
                    if run:
                        parts.append(run)
                        run = []
                    parts.append(v.ravel())
            elif _is_numeric(v):  # numpy scalars
                run.append(v)
        if scalars_only:
            _SCALAR_LAYOUT[cls] = types
    if not parts:
        try:
            return np.array(run, dtype=np.float64)
        except TypeError:  # e.g. a timedelta scalar: the general conversion below
            pass
    if run:
        parts.append(run)
    if not parts:
        return np.zeros(0, dtype=np.float64)
    return np.concatenate(parts, dtype=np.float64, casting="unsafe")
