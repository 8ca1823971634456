"""``env.net`` shows the env's current state, so pandapower's own tools work on it.

The step loop solves through GridModel's vectors and a compiled solver; the
pandapower tables are only brought up to date when ``env.net`` is read. These tests
check the physics (pandapower, with its default arguments, re-solves the synced net
to the env's voltages) and that looking never changes what the env does.
"""

from __future__ import annotations

import copy
import logging

import numpy as np
import pandapower as pp
import pytest

from powergrid.envs.multi_agent_microgrids import MultiAgentMicrogrids
from powergrid.powerflow import make_solver
from powergrid.setups.loader import load_setup

SETUPS = ["single_microgrid", "ieee34_ieee13", "ieee123_5mg"]
TOL_PU = 1e-6


def make_env(setup: str, **over) -> MultiAgentMicrogrids:
    cfg = load_setup(setup)
    cfg.update({"max_episode_steps": 4, **over})
    return MultiAgentMicrogrids(cfg)


def random_actions(env: MultiAgentMicrogrids, rng: np.random.Generator) -> dict:
    return {a: rng.uniform(-1, 1, env.action_space(a).shape).astype(np.float32)
            for a in env.agents}


def assert_runpp_reproduces_last_solve(env: MultiAgentMicrogrids, where: str) -> None:
    """Plain ``pp.runpp(env.net)`` converges to the env's last voltages (magnitude and angle)."""
    res = env.last_result
    assert res.converged, f"{where}: the env's own solve failed; pick another seed"
    net = env.net
    pp.runpp(net)  # pandapower's defaults, as the user guide's debugging tip
    # it started from the env's solution (init="results" carried by the net), not from
    # the flat/DC start that diverges in some IEEE 34 states
    assert net._ppc["iterations"] <= 2, where
    vm = net.res_bus.vm_pu.to_numpy(dtype=float)
    va = np.deg2rad(net.res_bus.va_degree.to_numpy(dtype=float))
    v_pp = vm * np.exp(1j * va)
    v_env = res.vm_pu * np.exp(1j * np.deg2rad(res.va_deg))
    assert np.max(np.abs(vm - res.vm_pu)) < TOL_PU, where
    # phasor difference: the angle error in radians times |V|, in pu like the magnitude
    assert np.max(np.abs(v_pp - v_env)) < TOL_PU, where


def assert_inputs_synced(env: MultiAgentMicrogrids, where: str) -> None:
    """The tables hold what the solver solved: this hour's loads, setpoints, integer taps."""
    net, gm = env.net, env.grid_model
    np.testing.assert_array_equal(net.load.p_mw.to_numpy(), gm.load_p, err_msg=where)
    np.testing.assert_array_equal(net.load.q_mvar.to_numpy(), gm.load_q, err_msg=where)
    np.testing.assert_array_equal(net.sgen.p_mw.to_numpy(), gm.sgen_p, err_msg=where)
    np.testing.assert_array_equal(net.storage.p_mw.to_numpy(), gm.storage_p, err_msg=where)
    taps = net.trafo.tap_pos.to_numpy(dtype=float)
    has_tap = np.isfinite(taps)
    np.testing.assert_array_equal(taps[has_tap], gm.tap_pos[has_tap], err_msg=where)


@pytest.mark.parametrize("setup", SETUPS)
def test_runpp_on_env_net_converges_to_the_env_state(setup: str) -> None:
    env = make_env(setup)
    rng = np.random.default_rng(3)
    env.reset(seed=3)
    assert_inputs_synced(env, f"{setup} after reset")
    assert_runpp_reproduces_last_solve(env, f"{setup} after reset")
    for k in range(6):  # crosses an episode boundary (4 steps each)
        if not env.agents:
            env.reset()
        env.step(random_actions(env, rng))
        assert_inputs_synced(env, f"{setup} step {k}")
        assert_runpp_reproduces_last_solve(env, f"{setup} step {k}")


def test_synced_net_is_not_the_nominal_one() -> None:
    """The sync writes something: at most hours load and taps differ from the built net."""
    env = make_env("ieee34_ieee13")
    nominal_p = env.grid_model.base_load_p.copy()
    env.reset(seed=0, options={"day": 0})
    env.step(random_actions(env, np.random.default_rng(0)))
    net = env.net
    assert not np.allclose(net.load.p_mw.to_numpy(), nominal_p)
    taps = net.trafo.tap_pos.to_numpy(dtype=float)
    has_tap = np.isfinite(taps)
    assert np.array_equal(taps[has_tap], np.round(taps[has_tap]))  # no fractional taps


@pytest.mark.parametrize("setup", SETUPS)
def test_looking_at_env_net_does_not_change_the_trajectory(setup: str) -> None:
    """Bit-identical observations, rewards and flags whether or not the user ran runpp."""
    watched, untouched = make_env(setup), make_env(setup)
    rng_w, rng_u = np.random.default_rng(7), np.random.default_rng(7)
    obs_w, _ = watched.reset(seed=7)
    obs_u, _ = untouched.reset(seed=7)
    pp.runpp(watched.net)
    for k in range(6):
        for env in (watched, untouched):
            if not env.agents:
                env.reset()
        out_w = watched.step(random_actions(watched, rng_w))
        out_u = untouched.step(random_actions(untouched, rng_u))
        pp.runpp(watched.net)
        str(watched.net.res_bus)
        for part_w, part_u in zip(out_w[:4], out_u[:4], strict=True):
            assert part_w.keys() == part_u.keys()
            for a in part_w:
                assert np.array_equal(part_w[a], part_u[a]), f"{setup} step {k} {a}"
        np.testing.assert_array_equal(watched.grid_model.tap_pos, untouched.grid_model.tap_pos)
    assert untouched._net.res_bus.empty  # nobody looked: the sync never ran


def test_pandapower_backend_unaffected_by_a_synced_net() -> None:
    """The reference backend warm-starts from its net's res_bus: it solves a private copy,
    so a user's runpp on ``env.net`` cannot change the next step; and it ignores the
    ``init="results"`` that a synced net (or a copy of it) carries."""
    backend = {"power_flow": {"backend": "pandapower"}}
    watched, untouched = make_env("single_microgrid", **backend), make_env("single_microgrid", **backend)
    rng_w, rng_u = np.random.default_rng(2), np.random.default_rng(2)
    watched.reset(seed=2)
    untouched.reset(seed=2)
    assert watched.net.user_pf_options["init"] == "results"
    for k in range(3):
        out_w = watched.step(random_actions(watched, rng_w))
        out_u = untouched.step(random_actions(untouched, rng_u))
        assert_inputs_synced(watched, f"pandapower backend step {k}")
        assert_runpp_reproduces_last_solve(watched, f"pandapower backend step {k}")
        assert np.array_equal(out_w[0]["MG1"], out_u[0]["MG1"]) and out_w[1] == out_u[1]
    ref = make_solver(copy.deepcopy(watched.net), backend="pandapower")
    ref.set_initial_voltages(np.ones(len(ref.net.bus)), np.zeros(len(ref.net.bus)))
    assert ref.solve().converged and ref.solve().converged  # cold start, then warm start


def test_res_bus_shows_the_last_solve_without_runpp() -> None:
    env = make_env("ieee34_ieee13")
    assert len(env.net.res_bus) == len(env.net.bus)  # already after construction
    env.reset(seed=1)
    rng = np.random.default_rng(1)
    seen = []
    for _ in range(2):
        env.step(random_actions(env, rng))
        res, net = env.last_result, env.net
        np.testing.assert_array_equal(net.res_bus.vm_pu.to_numpy(), res.vm_pu)
        np.testing.assert_array_equal(net.res_bus.va_degree.to_numpy(), res.va_deg)
        np.testing.assert_allclose(net.res_line.loading_percent.to_numpy(), res.line_loading_pct)
        np.testing.assert_allclose(net.res_ext_grid.p_mw.to_numpy(), res.ext_grid_p_mw)
        seen.append(net.res_bus.vm_pu.to_numpy().copy())
    assert not np.array_equal(seen[0], seen[1])  # refreshed after the next step


def test_failed_solve_shows_nan_and_leaves_pandapower_its_own_start() -> None:
    """A 20 MW generator absorbing 20 Mvar on a 4.16 kV feeder: no solution exists."""
    cfg = load_setup("single_microgrid")
    cfg["microgrid_configs"][0]["devices"][0]["device_state_config"].update(
        p_max_MW=20.0, s_rated_MVA=30.0, q_max_MVAr=20.0, q_min_MVAr=-20.0)
    cfg["max_episode_steps"] = 3
    env = MultiAgentMicrogrids(cfg)
    env.reset(seed=0)
    assert "init" in env.net.user_pf_options  # converged so far
    logging.disable(logging.WARNING)  # the env logs the failure
    try:
        env.step({"MG1": np.array([1.0, -1.0, 0.0, 0.0], dtype=np.float32)})
    finally:
        logging.disable(logging.NOTSET)
    assert not env.last_result.converged
    net = env.net
    assert net.res_bus.vm_pu.isna().all()
    assert "init" not in net.user_pf_options  # NaN results would be no start
    with pytest.raises(pp.LoadflowNotConverged):
        pp.runpp(net)


def test_grid_model_sync_before_any_solve_leaves_everything_alone() -> None:
    """Syncing must never solve (that would move the solver's warm start)."""
    from powergrid.envs.grid_model import GridModel
    from powergrid.networks import get_network

    net = get_network("ieee13", name="MG1")
    nominal = net.load.p_mw.to_numpy().copy()
    gm = GridModel(net)
    gm.sync_net()
    assert gm.solver.last_result is None and net.res_bus.empty
    gm.load_p[:] = 0.5 * gm.base_load_p
    assert gm.solve().converged
    np.testing.assert_array_equal(net.load.p_mw.to_numpy(), nominal)  # lazy: not yet
    gm.sync_net()
    np.testing.assert_array_equal(net.load.p_mw.to_numpy(), 0.5 * nominal)
    pp.runpp(net)
    np.testing.assert_allclose(net.res_bus.vm_pu.to_numpy(), gm.result.vm_pu, rtol=0, atol=TOL_PU)
