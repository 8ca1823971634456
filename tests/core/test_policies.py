import numpy as np
import pytest
from gymnasium.spaces import Box

from heron.core.policies import ConstantPolicy, RandomPolicy


def test_random_policy_is_seeded_and_in_space():
    space = Box(-1, 1, shape=(3,), dtype=np.float32)
    a = [RandomPolicy(space, seed=3)(None) for _ in range(1)]
    b = [RandomPolicy(Box(-1, 1, shape=(3,), dtype=np.float32), seed=3)(None)]
    np.testing.assert_array_equal(a[0], b[0])
    assert space.contains(a[0])


def test_random_policy_rejects_non_space():
    with pytest.raises(TypeError, match="gymnasium Space"):
        RandomPolicy([0, 1])


def test_constant_policy():
    assert ConstantPolicy([0.5, -0.5])(None).tolist() == [0.5, -0.5]
