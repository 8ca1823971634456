"""Core data structures: features, state, policies."""

from heron.core.feature import VISIBILITY_LEVELS, FeatureBlock, is_visible
from heron.core.policies import Policy, RandomPolicy
from heron.core.state import State

__all__ = ["FeatureBlock", "State", "Policy", "RandomPolicy", "VISIBILITY_LEVELS", "is_visible"]
