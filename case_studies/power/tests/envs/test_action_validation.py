"""Every bad action gets a clear error and changes no state (issue 18).

Regression tests for the defects found: an empty dict action kept the devices on
their last set-point (a battery at soc_min kept delivering 0.5 MW), rejected steps
advanced a generator's start-up timer, and several inputs gave bare numpy/Type errors
without naming the RL agent. Both execution modes that run in one process
(``centralized: true`` and ``false``) must behave the same.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

from heron.core.action import ActionError, ActionKeyError
from heron.testing.action_fuzz import snapshot, snapshots_equal
from powergrid.envs.multi_agent_microgrids import MultiAgentMicrogrids
from powergrid.setups.loader import load_setup

MODES = [True, False]  # centralized, in-process distributed


def grid_arrays(env: MultiAgentMicrogrids) -> list[np.ndarray]:
    """The network vectors the devices write into (part of the state a step may change)."""
    gm = env.grid_model
    return [gm.sgen_p, gm.sgen_q, gm.storage_p, gm.storage_q, gm.load_p, gm.load_q,
            gm.tap_pos]


def make(centralized: bool = True, setup: str = "ieee34_ieee13", **overrides: Any):
    cfg = {**load_setup(setup), "centralized": centralized, **overrides}
    env = MultiAgentMicrogrids(cfg)
    env.reset(seed=0)
    return env


_SHARED: dict[bool, MultiAgentMicrogrids] = {}


def shared(centralized: bool = True) -> MultiAgentMicrogrids:
    """One env per mode for tests that only make rejected steps (which change nothing,
    as :func:`rejected` checks), so they need not pay for building one each."""
    if centralized not in _SHARED:
        _SHARED[centralized] = make(centralized)
    return _SHARED[centralized]


def zeros(env: MultiAgentMicrogrids) -> dict[str, np.ndarray]:
    return {a: np.zeros(env.action_space(a).shape) for a in env.agents}


def commitment_config(startup_time_hr: float = 3.0) -> dict[str, Any]:
    cfg = copy.deepcopy(load_setup("ieee34_ieee13"))
    gen = cfg["microgrid_configs"][0]["devices"][0]
    assert gen["type"] == "Generator"
    gen["device_state_config"].update(allow_commitment=True, startup_time_hr=startup_time_hr,
                                      init_on=False)
    return cfg


def rejected(env, actions) -> ActionError:
    """Step with ``actions``, expect an ActionError, and check nothing changed."""
    before = snapshot(env, grid_arrays)
    with pytest.raises(ActionError) as err:
        env.step(actions)
    assert snapshots_equal(before, snapshot(env, grid_arrays)), "a rejected step changed state"
    return err.value


# -- empty / partial dicts ------------------------------------------------------------
@pytest.mark.parametrize("centralized", MODES)
def test_empty_dict_action_is_an_error_naming_the_missing_devices(centralized):
    env = make(centralized)
    err = rejected(env, {**zeros(env), "MG1": {}})
    assert err.agent == "MG1" and "gen1" in str(err) and "ess1" in str(err)
    assert err.received == "{}"
    err = rejected(env, {**zeros(env), "MG1": {"gen1": [0.0, 0.0]}})
    assert err.agent == "MG1" and err.device == "ess1" and "ess1" in str(err)


@pytest.mark.parametrize("centralized", MODES)
def test_battery_at_soc_min_delivers_nothing_whatever_form_the_action_takes(centralized):
    env = make(centralized)
    ess = env.agent_dict["MG1"].devices["ess1"]
    # discharge at full power for a step, then pin the battery at its minimum SOC
    env.step({**zeros(env), "MG1": np.array([0.0, 0.0, 1.0])})
    assert ess.state.electrical.p_MW == pytest.approx(ess.config.p_max_MW)
    ess.state.storage.soc = ess.config.soc_min
    rejected(env, {**zeros(env), "MG1": {}})  # no "hold the last set-point" any more
    for full_discharge in ({"gen1": [0.0, 0.0], "ess1": [1.0]}, np.array([0.0, 0.0, 1.0]),
                           np.array([0.0, 0.0, 1.0, 0.0, 0.0])[:3].tolist()):
        _, _, _, _, infos = env.step({**zeros(env), "MG1": full_discharge})
        assert ess.state.electrical.p_MW == pytest.approx(0.0, abs=1e-12)
        assert ess.state.storage.soc >= ess.config.soc_min - 1e-12
        assert ess.safety == 0.0


def test_full_dict_action_equals_the_flat_action():
    flat, as_dict = make(), make()
    for t in range(3):
        a = np.array([0.3, -0.2, 0.5 - 0.4 * t])
        o1, r1, *_ = flat.step({**zeros(flat), "MG1": a})
        o2, r2, *_ = as_dict.step({**zeros(as_dict),
                                   "MG1": {"gen1": a[:2], "ess1": a[2:]}})
        assert r1 == r2
        for k in o1:
            np.testing.assert_array_equal(o1[k], o2[k])


# -- a rejected step changes nothing (commitment timers included) ----------------------
@pytest.mark.parametrize("centralized", MODES)
def test_rejected_steps_do_not_advance_the_startup_timer(centralized):
    env = MultiAgentMicrogrids({**commitment_config(3.0), "centralized": centralized})
    env.reset(seed=0)
    gen = env.agent_dict["MG1"].devices["gen1"]
    start = {**zeros(env), "MG1": np.array([1.0, 0.0, 1.0, 0.0])}  # gen1: p, q, commit on
    env.step(start)
    assert gen._transition_left == pytest.approx(2.0) and not gen.is_on
    bad_batches = [
        {**start, "MG2": np.array([np.nan, 0.0, 0.0, 0.0])},  # another agent's NaN
        {**start, "MG1": np.array([1.0, 0.0, 1.0, np.inf])},  # the same agent's ESS
        {**start, "MG3": None},
        {**start, "MG1": {"gen1": [1.0, 0.0, 1.0]}},           # ess1 missing
        {k: v for k, v in start.items() if k != "MG3"},
    ]
    for _ in range(3):  # three rejected "hours" would have finished the start-up
        for bad in bad_batches:
            before = snapshot(env, grid_arrays)
            with pytest.raises(ActionError):
                env.step(bad)
            assert snapshots_equal(before, snapshot(env, grid_arrays))
            assert gen._transition_left == pytest.approx(2.0) and not gen.is_on
    env.step(start)
    env.step(start)
    assert gen.is_on, "two valid hours finish the remaining two hours of start-up"


def test_rejected_step_leaves_time_rng_and_exogenous_data_alone():
    env = make(train=True)
    obs = env._all_obs()
    t, rng = env._t, repr(env.np_random.bit_generator.state)
    for _ in range(5):
        rejected(env, {**zeros(env), "MG2": "abc"})
    assert env._t == t and repr(env.np_random.bit_generator.state) == rng
    o, *_ = env.step(zeros(env))
    ref = make(train=True)
    o_ref, *_ = ref.step(zeros(ref))
    for a in obs:
        np.testing.assert_array_equal(o[a], o_ref[a])


# -- clear messages ---------------------------------------------------------------------
BAD_AGENT_ACTIONS = {
    "string": ("abc", "string"),
    "numeric string": (["0.5", "0.5", "0.5"], "strings"),
    "ragged": ([[0.0, 0.0], [0.0]], "not an array of numbers"),
    "none": (None, "None"),
    "none inside": ([0.0, None, 0.0], "non-numbers"),
    "complex": (np.array([1j, 0, 0]), "complex"),
    "wrong length": (np.zeros(5), "has 5 values"),
    "nested wrong size": ([[[0.0, 0.0]] * 4], "has 8 values"),
    "nan": (np.array([0.0, np.nan, 0.0]), "NaN"),
    "inf in padding": (np.array([0.0, 0.0, np.inf]), "NaN or inf"),
    "big int": ([10**400, 0, 0], "float64"),
}


@pytest.mark.parametrize("case", sorted(BAD_AGENT_ACTIONS))
def test_bad_agent_actions_name_agent_expected_and_received(case):
    action, words = BAD_AGENT_ACTIONS[case]
    messages = []
    for centralized in MODES:
        env = shared(centralized)
        err = rejected(env, {**zeros(env), "MG2": action})  # MG2: gen2 (2 values), padded 3
        assert isinstance(err, ValueError)
        assert err.agent == "MG2" and "'MG2'" in str(err), str(err)
        assert words in str(err), str(err)
        assert "2 real numbers (gen2: 2)" in err.expected and "[-1, 1]" in err.expected
        assert "or 3 with padding" in err.expected
        assert err.received and err.received in str(err)
        messages.append(str(err))
    assert messages[0] == messages[1], "the same error in every mode"


def test_nan_names_the_device_at_fault():
    env = shared()
    err = rejected(env, {**zeros(env), "MG1": np.array([0.0, 0.0, np.nan])})
    assert (err.agent, err.device) == ("MG1", "ess1")
    assert "Invalid action for agent 'MG1', device 'ess1'" in str(err)
    err = rejected(env, {**zeros(env), "MG3": np.array([0.0, np.nan, np.nan])})
    assert err.device == "padding", "NaN in ignored padded entries is still NaN"
    err = rejected(env, {**zeros(env), "MG1": {"gen1": [0.0, 0.0], "ess1": [0.0, 0.0]}})
    assert (err.agent, err.device) == ("MG1", "ess1") and "has 2 values, expected 1" in str(err)


@pytest.mark.parametrize("centralized", MODES)
@pytest.mark.parametrize("bad", [{}, [], "abc", None, np.zeros(3), 7])
def test_no_actions_or_not_a_dict(centralized, bad):
    env = shared(centralized)
    err = rejected(env, bad)
    for a in env.agents:
        assert a in str(err)
    if isinstance(bad, dict):
        assert isinstance(err, ActionKeyError) and isinstance(err, KeyError)
        assert "no action for agent(s) ['MG1', 'MG2', 'MG3']" in str(err)
    else:
        assert "takes a dict" in str(err) and err.agent is None


def test_missing_and_unknown_agents_are_key_errors_naming_them():
    env = shared()
    acts = zeros(env)
    del acts["MG3"]
    err = rejected(env, acts)
    assert isinstance(err, KeyError) and err.agent == "MG3" and "'MG3'" in str(err)
    err = rejected(env, {**zeros(env), "MGX": np.zeros(3), 5: np.zeros(3)})
    assert isinstance(err, KeyError) and "'MGX'" in str(err) and "5" in str(err)


def test_price_signal_takes_exactly_one_number():
    env = make(protocol="price_signal")
    err = rejected(env, {**zeros(env), "MG2": np.array([0.5, 0.5])})  # was cut to 0.5
    assert err.agent == "MG2" and "has 2 values" in str(err) and "price_signal: 1" in str(err)
    rejected(env, {**zeros(env), "MG2": np.array([np.nan])})
    env.step({**zeros(env), "MG2": 0.5})  # a scalar is a 1-value action


def test_p2p_price_entry_is_checked_like_the_devices():
    env = make(protocol="p2p")
    err = rejected(env, {**zeros(env), "MG1": np.array([0.0, 0.0, 0.0, np.nan])})
    assert (err.agent, err.device) == ("MG1", "price")
    d = {"gen1": [0.0, 0.0], "ess1": [0.0]}
    err = rejected(env, {**zeros(env), "MG1": d})
    assert err.device == "price"
    env.step({**zeros(env), "MG1": {**d, "price": [0.3]}})


# -- out of range: clipped, consistently ------------------------------------------------
@pytest.mark.parametrize("centralized", MODES)
def test_finite_out_of_range_values_are_clipped_to_the_space(centralized):
    wild, tame = make(centralized), make(centralized)
    for scale in (1.0, 5.0, 1e300):
        base = {"MG1": np.array([1.0, -1.0, 1.0]), "MG2": np.array([-1.0, 1.0]),
                "MG3": np.array([1.0])}
        o1, r1, *_ = wild.step({a: v * scale for a, v in base.items()})
        o2, r2, *_ = tame.step(base)
        assert r1 == r2
        for a in o1:
            np.testing.assert_array_equal(o1[a], o2[a])


def test_validate_actions_returns_native_clipped_arrays():
    env = shared()
    out = env.validate_actions({"MG1": [[2.0, -3.0, 0.5]], "MG2": np.array([0.1, 0.2, 99.0]),
                                "MG3": {"ess3": [0.25]}})
    np.testing.assert_array_equal(out["MG1"], [1.0, -1.0, 0.5])  # a (1, n) array is accepted
    np.testing.assert_array_equal(out["MG2"], [0.1, 0.2])       # padded entry dropped
    np.testing.assert_array_equal(out["MG3"], [0.25])
    assert all(v.dtype == np.float64 for v in out.values())
