"""Hypothesis fuzz of ``step()`` actions (issue 18); fast, part of the default suite.

Every drawn input must either be rejected with a clear error (ActionError, KeyError
or ValueError whose message names the agent) and leave the env exactly as it was, or
step with finite observations and rewards. An oracle written from the documented
contract (heron.envs.base, "Actions"), independent of the env's numpy code, decides
which of the two an input deserves, so garbage that steps is caught too.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from heron.testing.action_fuzz import snapshot, snapshots_equal
from powergrid.envs.multi_agent_microgrids import MultiAgentMicrogrids
from powergrid.setups.loader import load_setup

_ENVS: dict[str, MultiAgentMicrogrids] = {}
MODES = {"centralized": {}, "in_process": {"centralized": False}, "p2p": {"protocol": "p2p"}}


def env_for(mode: str) -> MultiAgentMicrogrids:
    """One env per mode for the whole module (building one takes seconds)."""
    if mode not in _ENVS:
        env = MultiAgentMicrogrids({**load_setup("ieee34_ieee13"), **MODES[mode]})
        env.reset(seed=0)
        _ENVS[mode] = env
    env = _ENVS[mode]
    if not env.agents:
        env.reset()
    return env


def grid_arrays(env):
    gm = env.grid_model
    return [gm.sgen_p, gm.sgen_q, gm.storage_p, gm.storage_q, gm.load_p, gm.tap_pos]


# -- the oracle: the documented contract, written without numpy's conversion rules -----
def _shape(x: Any) -> tuple[int, ...] | None:
    """Shape of a rectangular nest of real numbers, else None (ragged, None, text ...)."""
    if isinstance(x, np.ndarray):
        x = x.tolist()
    if isinstance(x, (list, tuple)):
        shapes = [_shape(v) for v in x]
        if any(s is None for s in shapes) or len(set(shapes)) > 1:
            return None
        return (len(x), *(shapes[0] if shapes else ()))
    if isinstance(x, numbers.Real):
        try:
            float(x)
        except OverflowError:
            return None
        return ()
    return None


def _leaves(x: Any) -> list[float]:
    if isinstance(x, np.ndarray):
        x = x.tolist()
    if isinstance(x, (list, tuple)):
        return [v for item in x for v in _leaves(item)]
    return [float(x)]


def _ok_numbers(x: Any, sizes: set[int]) -> bool:
    shape = _shape(x)
    if shape is None or int(np.prod(shape)) not in sizes:
        return False
    return all(np.isfinite(v) for v in _leaves(x))


def acceptable(env: MultiAgentMicrogrids, actions: Any) -> bool:
    if not isinstance(actions, Mapping) or set(actions) != set(env.agents):
        return False
    for agent, action in actions.items():
        layout = env.action_layout(agent)
        if isinstance(action, Mapping):
            if set(action) != set(layout):
                return False
            if not all(_ok_numbers(action[k], {n}) for k, n in layout.items()):
                return False
        else:
            sizes = {env.native_action_spaces[agent].shape[0], env.action_space(agent).shape[0]}
            if not _ok_numbers(action, sizes):
                return False
    return True


# -- strategies ---------------------------------------------------------------------------
numbers_ = st.one_of(
    st.floats(-3, 3),
    st.floats(allow_nan=True, allow_infinity=True),  # NaN, inf, 1e308 ...
    st.integers(-5, 5),
    st.integers(min_value=10**300, max_value=10**400),  # beyond float64 at the top
)
leaf = st.one_of(numbers_, numbers_, numbers_, st.none(), st.text(max_size=3),
                 st.complex_numbers(max_magnitude=2))


@st.composite
def agent_action(draw, env: MultiAgentMicrogrids, agent: str):
    n = env.native_action_spaces[agent].shape[0]
    p = env.action_space(agent).shape[0]
    if draw(st.integers(0, 9)) < 7:  # mostly well-formed, so that whole steps happen too
        finite = st.one_of(st.floats(-3, 3), st.floats(allow_nan=False, allow_infinity=False))
        size = draw(st.sampled_from([n, p]))
        return np.asarray(draw(st.lists(finite, min_size=size, max_size=size)))
    size = draw(st.sampled_from(sorted({0, 1, max(n - 1, 0), n, p, p + 1})))
    kind = draw(st.sampled_from(["floats", "floats", "floats", "mixed", "nested", "dict",
                                 "scalar", "none", "text"]))
    if kind == "floats":
        return np.asarray(draw(st.lists(st.floats(-3, 3), min_size=size, max_size=size)))
    if kind == "mixed":
        return draw(st.lists(leaf, min_size=size, max_size=size))
    if kind == "nested":
        return draw(st.lists(st.lists(numbers_, min_size=0, max_size=3), min_size=0,
                             max_size=3))
    if kind == "dict":
        layout = env.action_layout(agent)
        keys = draw(st.lists(st.sampled_from([*layout, "bogus"]), unique=True))
        if draw(st.booleans()):
            keys = list(layout)
        return {k: draw(st.one_of(
            st.lists(st.floats(-3, 3), min_size=layout.get(k, 1), max_size=layout.get(k, 1)),
            st.lists(leaf, max_size=3), leaf)) for k in keys}
    if kind == "scalar":
        return draw(numbers_)
    return None if kind == "none" else draw(st.text(max_size=4))


@st.composite
def step_input(draw, env: MultiAgentMicrogrids):
    if draw(st.integers(0, 9)) == 0:  # not a dict at all
        return draw(st.one_of(st.none(), st.text(max_size=4), st.lists(numbers_, max_size=3),
                              st.integers()))
    agents = list(env.agents)
    keys = agents if draw(st.integers(0, 3)) else draw(
        st.lists(st.sampled_from([*agents, "MGX", "mg1"]), unique=True))
    return {k: draw(agent_action(env, k if k in env.agent_dict else agents[0])) for k in keys}


def check_one(env: MultiAgentMicrogrids, actions: Any) -> None:
    agents = list(env.agents)
    should_step = acceptable(env, actions)
    before = snapshot(env, grid_arrays)
    try:
        obs, rewards, *_ = env.step(actions)
    except (KeyError, ValueError) as exc:
        event("rejected")
        assert not should_step, f"a valid action was rejected: {exc}"
        assert any(a in str(exc) for a in agents), f"message names no agent: {exc}"
        assert snapshots_equal(before, snapshot(env, grid_arrays)), "rejected step changed state"
        if isinstance(actions, Mapping):
            culprits = [a for a in agents if a not in actions or not acceptable(
                env, {**{b: np.zeros(env.action_space(b).shape) for b in agents}, a: actions[a]})]
            if culprits and not set(actions) - set(agents):
                assert any(repr(a) in str(exc) for a in culprits), (culprits, str(exc))
        return
    event("stepped")
    assert should_step, f"garbage was accepted: {actions!r}"
    for o in obs.values():
        assert np.isfinite(o).all()
    assert all(np.isfinite(r) for r in rewards.values())


@pytest.mark.parametrize("mode", sorted(MODES))
@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_fuzzed_actions_clear_error_or_finite_step(mode, data):
    env = env_for(mode)
    check_one(env, data.draw(step_input(env)))
