"""State: an ordered collection of named feature blocks owned by one agent."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import numpy as np

from heron.core.feature import FeatureBlock, flatten_blocks, is_visible


class State:
    """Named feature blocks with attribute access and a stable flattening order.

    Order is insertion order, so an observation vector never reshuffles between
    runs. ``reset()`` restores every block to the value it had when it was added,
    which is what an environment reset needs without re-building agents.

    Speed (states are read every env step, dozens of times): each block is also
    bound as a plain instance attribute, so ``state.electrical`` is an ordinary
    attribute lookup, and the blocks each relation may see are remembered until
    the set of blocks changes.
    """

    def __init__(self, owner_id: str = "", owner_level: int = 0) -> None:
        object.__setattr__(self, "owner_id", owner_id)
        object.__setattr__(self, "owner_level", owner_level)
        object.__setattr__(self, "_features", {})
        object.__setattr__(self, "_initial", {})
        object.__setattr__(self, "_bound", set())  # feature names bound as attributes
        object.__setattr__(self, "_visible", {})  # relation -> tuple of visible blocks

    def _store(self, name: str, block: FeatureBlock) -> None:
        """Put ``block`` under ``name`` (dict and, where it shadows nothing, attribute)."""
        self._features[name] = block
        self._visible.clear()
        if name in self._bound or (name not in self.__dict__ and not hasattr(type(self), name)):
            object.__setattr__(self, name, block)
            self._bound.add(name)

    # -- building ------------------------------------------------------------------
    def add_feature(self, name: str, block: FeatureBlock) -> FeatureBlock:
        if not isinstance(block, FeatureBlock):
            raise TypeError(
                f"State.add_feature({name!r}): expected a FeatureBlock, got {type(block).__name__}."
            )
        if not name.isidentifier():
            raise ValueError(f"Feature name {name!r} must be a valid Python identifier.")
        if name in self._features:
            raise ValueError(f"Feature {name!r} already exists in state of {self.owner_id!r}.")
        self._store(name, block)
        self._initial[name] = copy.deepcopy(block)
        return block

    def remove_feature(self, name: str) -> None:
        self._require(name)
        del self._features[name]
        del self._initial[name]
        self._visible.clear()
        if name in self._bound:
            self._bound.discard(name)
            object.__delattr__(self, name)

    # -- access --------------------------------------------------------------------
    def _require(self, name: str) -> FeatureBlock:
        try:
            return self._features[name]
        except KeyError:
            raise KeyError(
                f"Unknown feature {name!r} in state of {self.owner_id!r}. "
                f"Known features: {list(self._features)}."
            ) from None

    def __getattr__(self, name: str) -> FeatureBlock:
        # only reached for names that are not bound attributes (see _store)
        if name.startswith("__"):
            raise AttributeError(name)
        features = self.__dict__.get("_features", {})
        if name in features:
            return features[name]
        raise AttributeError(
            f"State of {self.__dict__.get('owner_id', '?')!r} has no feature {name!r}. "
            f"Known features: {list(features)}."
        )

    def __setattr__(self, name: str, value) -> None:
        if name in self._features:
            if not isinstance(value, FeatureBlock):
                raise TypeError(f"Feature {name!r} must be a FeatureBlock.")
            self._store(name, value)
        else:
            object.__setattr__(self, name, value)

    def __getitem__(self, name: str) -> FeatureBlock:
        return self._require(name)

    def __contains__(self, name: str) -> bool:
        return name in self._features

    def __iter__(self) -> Iterator[str]:
        return iter(self._features)

    def items(self):
        return self._features.items()

    @property
    def features(self) -> dict[str, FeatureBlock]:
        return dict(self._features)

    # -- flattening ----------------------------------------------------------------
    def visible_blocks(self, relation: str = "owner") -> tuple[FeatureBlock, ...]:
        """The blocks an observer with ``relation`` may see, in order (remembered)."""
        blocks = self._visible.get(relation)
        if blocks is None:
            blocks = tuple(b for b in self._features.values()
                           if is_visible(b.visibility, relation))
            self._visible[relation] = blocks
        return blocks

    def to_array(self, relation: str = "owner") -> np.ndarray:
        """Flatten the blocks that an observer with ``relation`` may see."""
        return flatten_blocks(self.visible_blocks(relation))

    def names(self, relation: str = "owner") -> list[str]:
        return [
            f"{name}.{label}"
            for name, b in self._features.items()
            if is_visible(b.visibility, relation)
            for label in b.names()
        ]

    def to_dict(self, relation: str = "owner") -> dict[str, np.ndarray]:
        return {
            name: b.to_array()
            for name, b in self._features.items()
            if is_visible(b.visibility, relation)
        }

    def update_from_dict(self, arrays: dict[str, np.ndarray]) -> None:
        """Overwrite blocks from ``{name: flat_array}`` (e.g. a message payload)."""
        for name, arr in arrays.items():
            self._require(name).set_from_array(np.asarray(arr))

    def reset(self) -> None:
        for name, block in self._initial.items():
            self._store(name, copy.deepcopy(block))

    def __repr__(self) -> str:
        return f"State(owner={self.owner_id!r}, features={list(self._features)})"
