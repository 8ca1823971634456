"""The compiled power flows (lightsim2grid Newton, radial sweeps) must reproduce runpp.

Every comparison runs real pandapower (``backend="pandapower"``, i.e. ``pp.runpp``)
on the same inputs; nothing is mocked. Tolerances: 1e-6 pu on voltages and 1e-4
(absolute percent) on line/trafo loadings. The accuracy tests run on both compiled
backends (``FAST``): the sweep backend solves the same compiled model and hands
meshed networks to Newton, so it must pass them all.
"""

from __future__ import annotations

import copy
import importlib
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pytest

from powergrid.powerflow import PowerFlowError, PowerFlowResult, make_solver
from powergrid.powerflow.lightsim import LightSimSolver
from powergrid.powerflow.reference import PandapowerSolver
from powergrid.powerflow.sweep import SweepSolver

VM_TOL = 1e-6
LOADING_TOL = 1e-4
N_PATTERNS = 50
#: the compiled backends every accuracy test runs on
FAST = ["lightsim2grid", "sweep"]

warnings.filterwarnings("ignore", message=".*numba.*")


# ----------------------------------------------------------------------------- networks
def _add_storage(net: Any, buses: list[int], p_mw: float) -> None:
    for b in buses:
        pp.create_storage(net, bus=b, p_mw=0.0, max_e_mwh=4 * p_mw, sn_mva=p_mw)


def case33bw_der() -> Any:
    """Radial 12.66 kV feeder with PV and batteries added (no trafo, no switch)."""
    net = pn.case33bw()
    for b in (12, 17, 24, 31):
        pp.create_sgen(net, bus=b, p_mw=0.3, q_mvar=0.0, sn_mva=0.3)
    _add_storage(net, [7, 29], 0.2)
    return net


def cigre_mv_der() -> Any:
    """CIGRE MV with PV/wind, storage, 30° trafos with tap changers (hv and lv side,
    tap_neutral != 0) and iron losses."""
    net = pn.create_cigre_network_mv(with_der="pv_wind")
    _add_storage(net, [5, 10], 0.3)
    net.trafo["tap_min"] = -9.0
    net.trafo["tap_max"] = 9.0
    net.trafo["tap_step_percent"] = 1.5
    net.trafo["tap_step_degree"] = 0.0
    net.trafo["tap_changer_type"] = "Ratio"
    net.trafo["tap_side"] = ["hv", "lv"]
    net.trafo["tap_neutral"] = [0.0, 1.0]
    net.trafo["tap_pos"] = [0.0, 2.0]
    net.trafo["pfe_kw"] = 25.0  # non-zero magnetising branch (matters for half-open trafos)
    net.trafo["i0_percent"] = 0.8
    return net


def oberrhein_sub() -> Any:
    """One substation of MV Oberrhein: 150° trafo with taps, 129 line switches (some open)."""
    net, _ = pn.mv_oberrhein(separation_by_sub=True)
    _add_storage(net, list(net.load.bus.iloc[:3]), 0.25)
    return net


NETWORKS: dict[str, Callable[[], Any]] = {
    "case33bw_der": case33bw_der,
    "cigre_mv_der": cigre_mv_der,
    "oberrhein_sub": oberrhein_sub,
}

# IEEE feeders are built by powergrid.networks (public name, or the submodule defining
# it); a test is skipped only while that builder does not exist yet.
_IEEE: dict[str, Callable[[], Any]] = {}
for _name, _sub in (("IEEE13Bus", "ieee13"), ("IEEE34Bus", "ieee34"), ("IEEE123Bus", "ieee123")):
    for _module in ("powergrid.networks", f"powergrid.networks.{_sub}"):
        try:
            _builder = getattr(importlib.import_module(_module), _name, None)
        except ImportError:
            _builder = None
        if _builder is not None:
            _IEEE[_name] = _builder
            break


def _ieee(name: str) -> Any:
    if name not in _IEEE:
        pytest.skip(f"powergrid.networks.{name} does not exist yet")
    return _IEEE[name]()


# ----------------------------------------------------------------------------- helpers
def _pair(net: Any, backend: str = "lightsim2grid") -> tuple[Any, PandapowerSolver]:
    fast = make_solver(copy.deepcopy(net), backend=backend)
    ref = make_solver(copy.deepcopy(net), backend="pandapower")
    expected = {"lightsim2grid": LightSimSolver, "sweep": SweepSolver}[backend]
    assert isinstance(fast, expected) and isinstance(ref, PandapowerSolver)
    return fast, ref


def _random_injections(net: Any, rng: np.random.Generator) -> dict[str, tuple[np.ndarray, ...]]:
    """Feasible pattern: loads x U(0.5, 1.2) each, small random sgen / storage P and Q."""
    lp = net.load.p_mw.to_numpy() * rng.uniform(0.5, 1.2, len(net.load))
    lq = net.load.q_mvar.to_numpy() * rng.uniform(0.5, 1.2, len(net.load))
    cap = np.maximum(net.sgen.p_mw.to_numpy(), 0.05)
    sp = cap * rng.uniform(0.0, 1.0, len(net.sgen))
    sq = cap * rng.uniform(-0.3, 0.3, len(net.sgen))
    scap = np.maximum(net.storage.sn_mva.to_numpy(), 0.05) if len(net.storage) else np.zeros(0)
    bp = scap * rng.uniform(-1.0, 1.0, len(net.storage))
    bq = scap * rng.uniform(-0.2, 0.2, len(net.storage))
    return {"loads": (lp, lq), "sgens": (sp, sq), "storages": (bp, bq)}


def _apply(solver: Any, inj: dict[str, tuple[np.ndarray, ...]]) -> None:
    solver.set_loads(*inj["loads"])
    solver.set_sgens(*inj["sgens"])
    solver.set_storages(*inj["storages"])


def _assert_match(
    a: PowerFlowResult, b: PowerFlowResult, what: str = "", allow_both_failed: bool = False
) -> bool:
    """Compare two results; returns whether they converged (both failing is agreement
    only where the caller allows it, e.g. a switching pattern that overloads a trafo)."""
    if allow_both_failed and not a.converged and not b.converged:
        return False
    assert a.converged and b.converged, what
    np.testing.assert_array_equal(
        np.isnan(a.vm_pu), np.isnan(b.vm_pu), err_msg=f"{what}: NaN buses"
    )
    np.testing.assert_allclose(a.vm_pu, b.vm_pu, atol=VM_TOL, rtol=0, equal_nan=True, err_msg=what)
    np.testing.assert_allclose(a.va_deg, b.va_deg, atol=1e-4, rtol=0, equal_nan=True, err_msg=what)
    np.testing.assert_allclose(
        a.line_loading_pct,
        b.line_loading_pct,
        atol=LOADING_TOL,
        rtol=0,
        equal_nan=True,
        err_msg=what,
    )
    np.testing.assert_allclose(
        a.trafo_loading_pct,
        b.trafo_loading_pct,
        atol=LOADING_TOL,
        rtol=0,
        equal_nan=True,
        err_msg=what,
    )
    for field in (
        "line_p_from_mw",
        "line_q_from_mvar",
        "line_pl_mw",
        "ext_grid_p_mw",
        "ext_grid_q_mvar",
    ):
        np.testing.assert_allclose(
            getattr(a, field),
            getattr(b, field),
            atol=1e-6,
            rtol=0,
            equal_nan=True,
            err_msg=f"{what}: {field}",
        )
    assert abs(a.losses_mw - b.losses_mw) < 1e-6, what
    return True


def _check_random_patterns(net: Any, n: int, seed: int, backend: str) -> None:
    fast, ref = _pair(net, backend)
    rng = np.random.default_rng(seed)
    for k in range(n):
        inj = _random_injections(net, rng)
        _apply(fast, inj)
        _apply(ref, inj)
        _assert_match(fast.solve(), ref.solve(), f"pattern {k}")


# ----------------------------------------------------------------------------- accuracy
@pytest.mark.parametrize("backend", FAST)
@pytest.mark.parametrize("name", list(NETWORKS))
def test_random_injections_match_pandapower(name: str, backend: str) -> None:
    _check_random_patterns(NETWORKS[name](), N_PATTERNS, seed=1, backend=backend)


@pytest.mark.parametrize("backend", FAST)
@pytest.mark.parametrize("name", ["IEEE13Bus", "IEEE34Bus"])
def test_ieee_random_injections_match_pandapower(name: str, backend: str) -> None:
    _check_random_patterns(_ieee(name), N_PATTERNS, seed=2, backend=backend)


@pytest.mark.slow
@pytest.mark.parametrize("backend", FAST)
def test_ieee123_random_injections_match_pandapower(backend: str) -> None:
    _check_random_patterns(_ieee("IEEE123Bus"), N_PATTERNS, seed=3, backend=backend)


def test_fast_kernel_is_used() -> None:
    """The LSGrid kernel (cached KLU analysis) must not silently fall back to the slow one."""
    for name, build in [*NETWORKS.items(), *_IEEE.items()]:
        fast = make_solver(build(), backend="lightsim2grid")
        assert fast.solve().converged, name
        fast.set_trafo_taps(np.nan_to_num(fast.net.trafo.tap_pos.to_numpy(), nan=0.0) + 1)
        fast.solve()
        assert fast._use_lsgrid and fast._ls is not None, name


def test_standalone_kernel_matches_pandapower() -> None:
    """The fallback kernel (own Ybus + lightsim2grid Newton) under taps, switches, injections."""
    net = cigre_mv_der()
    fast = make_solver(copy.deepcopy(net), backend="lightsim2grid", use_lsgrid=False)
    ref = make_solver(copy.deepcopy(net), backend="pandapower")
    rng = np.random.default_rng(8)
    closed = net.switch.closed.to_numpy().copy()
    closed[[1, 4]] = True  # close the two rings
    for k in range(10):
        taps = rng.integers(-4, 5, size=2)
        for s in (fast, ref):
            s.set_trafo_taps(taps)
            s.set_switches(closed if k % 2 else net.switch.closed.to_numpy())
        inj = _random_injections(net, rng)
        _apply(fast, inj)
        _apply(ref, inj)
        _assert_match(fast.solve(), ref.solve(), f"standalone {k}")
    assert fast._ls is None


def _check_taps(net: Any, seed: int, backend: str, n: int = 12) -> None:
    fast, ref = _pair(net, backend)
    tappable = net.trafo.tap_min.notna().to_numpy() & net.trafo.tap_max.notna().to_numpy()
    assert tappable.any()
    rng = np.random.default_rng(seed)
    lo = np.nan_to_num(net.trafo.tap_min.to_numpy(), nan=0.0)
    hi = np.nan_to_num(net.trafo.tap_max.to_numpy(), nan=0.0)
    n_ok = 0
    for _ in range(n):
        taps = rng.integers(lo, hi + 1)
        fast.set_trafo_taps(taps)
        ref.set_trafo_taps(taps)
        inj = _random_injections(net, rng)
        _apply(fast, inj)
        _apply(ref, inj)
        # extreme regulator settings can make a long feeder infeasible: both must agree
        n_ok += _assert_match(
            fast.solve(), ref.solve(), f"taps {taps.tolist()}", allow_both_failed=True
        )
    assert n_ok >= n // 2
    # out-of-range requests are clipped to the tap changer's range
    fast.set_trafo_taps(np.where(tappable, hi + 5, 0))
    assert np.all(fast._tap_pos[tappable] == hi[tappable])
    ref.set_trafo_taps(np.where(tappable, hi + 5, 0))
    _assert_match(fast.solve(), ref.solve(), "clipped taps")


@pytest.mark.parametrize("backend", FAST)
@pytest.mark.parametrize("name", ["cigre_mv_der", "oberrhein_sub"])
def test_tap_changes_match_pandapower(name: str, backend: str) -> None:
    _check_taps(NETWORKS[name](), seed=4, backend=backend)


@pytest.mark.parametrize("backend", FAST)
@pytest.mark.parametrize("name", ["IEEE13Bus", "IEEE34Bus"])
def test_ieee_tap_changes_match_pandapower(name: str, backend: str) -> None:
    net = _ieee(name)
    if not net.trafo.tap_min.notna().any():
        pytest.skip(f"{name} has no tap changer")
    _check_taps(net, seed=5, backend=backend)


def test_tap_change_moves_voltage() -> None:
    """Guard against a tap update that is silently ignored (both backends unchanged)."""
    net = cigre_mv_der()
    fast = make_solver(net)
    v0 = fast.solve().vm_pu.copy()
    fast.set_trafo_taps(np.array([5, 2]))
    v1 = fast.solve().vm_pu
    assert np.nanmax(np.abs(v1 - v0)) > 1e-3


@pytest.mark.parametrize("backend", FAST)
@pytest.mark.parametrize("name", ["cigre_mv_der", "oberrhein_sub"])
def test_switch_changes_match_pandapower(name: str, backend: str) -> None:
    """Random line/trafo switch states, including islanding and closed rings."""
    net = NETWORKS[name]()
    fast, ref = _pair(net, backend)
    rng = np.random.default_rng(6)
    closed0 = net.switch.closed.to_numpy()
    n_ok = 0
    for k in range(12):
        closed = closed0.copy()
        flip = rng.random(len(closed)) < (0.5 if len(closed) < 20 else 0.05)
        closed[flip] = ~closed[flip]
        fast.set_switches(closed)
        ref.set_switches(closed)
        inj = _random_injections(net, rng)
        _apply(fast, inj)
        _apply(ref, inj)
        n_ok += _assert_match(
            fast.solve(), ref.solve(), f"switch pattern {k}", allow_both_failed=True
        )
    assert n_ok >= 8  # most patterns are feasible; the comparison must not be vacuous
    # and back to the original state
    fast.set_switches(closed0)
    ref.set_switches(closed0)
    _assert_match(fast.solve(), ref.solve(), "switches restored")


def test_open_switch_isolates_buses() -> None:
    """Opening the trafo breaker of a CIGRE feeder must de-energise the whole feeder."""
    net = cigre_mv_der()
    fast, ref = _pair(net)
    closed = net.switch.closed.to_numpy().copy()
    closed[(net.switch.et == "t").to_numpy() & (net.switch.element == 1).to_numpy()] = False
    fast.set_switches(closed)
    ref.set_switches(closed)
    a, b = fast.solve(), ref.solve()
    assert np.isnan(a.vm_pu).sum() > 0
    _assert_match(a, b, "feeder 2 disconnected")


def test_half_open_trafo_with_tap_changes() -> None:
    """Trafo breaker open on the hv side, feeder supplied through the closed rings:
    the trafo hangs on its lv bus (magnetising branch only) while its taps move."""
    net = cigre_mv_der()
    fast, ref = _pair(net)
    closed = np.ones(len(net.switch), dtype=bool)
    closed[(net.switch.et == "t").to_numpy() & (net.switch.element == 1).to_numpy()] = False
    for s in (fast, ref):
        s.set_switches(closed)
        # one 25 MVA trafo now feeds both feeders: light load keeps it feasible
        s.set_loads(0.3 * net.load.p_mw.to_numpy(), 0.3 * net.load.q_mvar.to_numpy())
    _assert_match(fast.solve(), ref.solve(), "half-open trafo")
    for taps in ([0, -3], [2, 5], [2, -9]):
        for s in (fast, ref):
            s.set_trafo_taps(np.array(taps))
        _assert_match(fast.solve(), ref.solve(), f"half-open trafo, taps {taps}")


@pytest.mark.parametrize("backend", FAST)
def test_line_in_service_changes_match_pandapower(backend: str) -> None:
    net = case33bw_der()
    fast, ref = _pair(net, backend)
    # the 5 tie lines of case33bw are out of service; close two, open a radial one
    status = net.line.in_service.to_numpy().copy()
    status[[32, 34]] = True
    status[[8]] = False
    fast.set_line_in_service(status)
    ref.set_line_in_service(status)
    _assert_match(fast.solve(), ref.solve(), "meshed")
    status[:] = True
    status[[3]] = False  # splits the feeder: buses downstream lose supply unless meshed
    fast.set_line_in_service(status)
    ref.set_line_in_service(status)
    _assert_match(fast.solve(), ref.solve(), "all ties closed")


def test_bus_bus_switch_fused_and_not_toggleable() -> None:
    net = case33bw_der()
    nb = pp.create_bus(net, vn_kv=net.bus.vn_kv.iloc[5])
    pp.create_switch(net, bus=5, element=nb, et="b", closed=True)
    pp.create_load(net, bus=nb, p_mw=0.2, q_mvar=0.05)
    # a cable in parallel with the closed switch: both ends on the same fused bus
    pp.create_line_from_parameters(
        net,
        5,
        nb,
        length_km=1.0,
        r_ohm_per_km=0.2,
        x_ohm_per_km=0.1,
        c_nf_per_km=300.0,
        max_i_ka=0.3,
    )
    fast, ref = _pair(net)
    _assert_match(fast.solve(), ref.solve(), "bus-bus switch")
    with pytest.raises(PowerFlowError, match="bus-bus"):
        fast.set_switches(np.array([False]))


# ----------------------------------------------------------------------------- robustness
@pytest.mark.parametrize("backend", FAST)
def test_overload_reports_non_convergence_then_recovers(backend: str) -> None:
    net = case33bw_der()
    fast, ref = _pair(net, backend)
    p0, q0 = net.load.p_mw.to_numpy(), net.load.q_mvar.to_numpy()
    good = fast.solve()
    assert good.converged
    fast.set_loads(10 * p0, 10 * q0)
    bad = fast.solve()
    assert not bad.converged
    assert bad.iterations > 0
    assert bad.vm_pu.shape == good.vm_pu.shape and np.all(np.isnan(bad.vm_pu))
    assert np.all(np.isnan(bad.line_loading_pct))
    ref.set_loads(10 * p0, 10 * q0)
    assert not ref.solve().converged  # pandapower agrees this is infeasible
    fast.set_loads(p0, q0)
    ref.set_loads(p0, q0)
    _assert_match(fast.solve(), ref.solve(), "after divergence")


def test_warm_start_failure_falls_back_to_flat_start() -> None:
    """A corrupted warm start must not prevent convergence of a feasible step."""
    net = cigre_mv_der()
    fast, ref = _pair(net)
    fast.solve()
    fast._v[:] = 0.05 * np.exp(1j * 2.0)  # hopeless initial point
    _assert_match(fast.solve(), ref.solve(), "fallback")


def test_sweep_solves_radial_networks_and_hands_meshes_to_newton() -> None:
    """case33bw with its tie lines out is radial: sweeps. Closing two ties meshes it:
    Newton, until it is radial again; every state agrees with runpp."""
    net = case33bw_der()
    fast, ref = _pair(net, "sweep")
    assert fast.radial
    _assert_match(fast.solve(), ref.solve(), "radial")
    assert fast.solved_by == "sweep"
    status = net.line.in_service.to_numpy().copy()
    status[[32, 34]] = True
    for s in (fast, ref):
        s.set_line_in_service(status)
    assert not fast.radial
    _assert_match(fast.solve(), ref.solve(), "meshed: Newton")
    assert fast.solved_by == "newton"
    for s in (fast, ref):
        s.set_line_in_service(net.line.in_service.to_numpy())
    assert fast.radial
    _assert_match(fast.solve(), ref.solve(), "radial again")
    assert fast.solved_by == "sweep"


def test_sweep_that_does_not_converge_hands_over_to_newton() -> None:
    """One sweep cannot converge; Newton then solves the step, exactly as lightsim2grid."""
    net = cigre_mv_der()
    sweep = make_solver(copy.deepcopy(net), backend="sweep", sweep_max_iter=1)
    newton = make_solver(copy.deepcopy(net), backend="lightsim2grid")
    inj = _random_injections(net, np.random.default_rng(3))
    for s in (sweep, newton):
        _apply(s, inj)
        s.set_trafo_taps(np.array([2, -1]))
    a, b = sweep.solve(), newton.solve()
    assert a.converged and sweep.solved_by == "newton"
    np.testing.assert_allclose(a.vm_pu, b.vm_pu, atol=1e-12, rtol=0)
    np.testing.assert_allclose(a.line_loading_pct, b.line_loading_pct, atol=1e-10, rtol=0)


def test_sweep_and_newton_agree_on_a_shipped_feeder_with_tap_moves() -> None:
    """The two compiled backends solve one model: within 1e-8 pu (Newton stops at a 1e-8
    mismatch, up to ~5e-9 pu short of the exact solution; the sweeps at 1e-10 pu)."""
    from powergrid.networks import initial_voltages

    net = _ieee("IEEE34Bus")
    sweep = make_solver(copy.deepcopy(net), backend="sweep")
    newton = make_solver(copy.deepcopy(net), backend="lightsim2grid")
    rng = np.random.default_rng(9)
    taps = np.nan_to_num(net.trafo.tap_pos.to_numpy(dtype=float))
    tappable = net.trafo.tap_pos.notna().to_numpy()
    for k in range(10):
        inj = _random_injections(net, rng)
        step = np.where(tappable, rng.integers(-2, 3, len(taps)), 0)
        tapped = copy.deepcopy(net)
        tapped.trafo.loc[tappable, "tap_pos"] = (taps + step)[tappable]
        newton.set_initial_voltages(*initial_voltages(tapped))  # Newton's cold start there
        for s in (sweep, newton):
            _apply(s, inj)
            s.set_trafo_taps(taps + step)
        a, b = sweep.solve(), newton.solve()
        assert a.converged and b.converged, k
        assert sweep.solved_by == "sweep", k
        np.testing.assert_allclose(a.vm_pu, b.vm_pu, atol=1e-8, rtol=0, err_msg=f"{k}")


def test_nan_injection_raises_naming_vector() -> None:
    net = case33bw_der()
    fast = make_solver(net)
    p = net.load.p_mw.to_numpy().copy()
    q = net.load.q_mvar.to_numpy().copy()
    p[3] = np.nan
    with pytest.raises(ValueError, match="load p_mw"):
        fast.set_loads(p, q)
    sq = np.zeros(len(net.sgen))
    sq[0] = np.inf
    with pytest.raises(ValueError, match="sgen q_mvar"):
        fast.set_sgens(np.zeros(len(net.sgen)), sq)
    with pytest.raises(ValueError, match="storage p_mw"):
        fast.set_storages(np.full(len(net.storage), np.nan), np.zeros(len(net.storage)))
    with pytest.raises(ValueError, match="load p_mw"):
        fast.set_loads(p[:-1], q[:-1])
    # the solver still works with the previous (valid) inputs
    assert fast.solve().converged


def test_nan_tap_raises() -> None:
    fast = make_solver(cigre_mv_der())
    with pytest.raises(ValueError, match="tap"):
        fast.set_trafo_taps(np.array([np.nan, 0.0]))


def test_unsupported_elements_raise_clear_error() -> None:
    net = pn.example_simple()  # has a PV generator
    with pytest.raises(PowerFlowError, match=r"net\.gen.*pandapower"):
        make_solver(net)
    make_solver(net, backend="pandapower")  # the reference backend takes it
    net = case33bw_der()
    hv = pp.create_bus(net, vn_kv=110.0)
    mv = pp.create_bus(net, vn_kv=20.0)
    pp.create_transformer3w(net, hv, mv, 5, std_type="63/25/38 MVA 110/20/10 kV")
    with pytest.raises(PowerFlowError, match="trafo3w"):
        make_solver(net)
    net = case33bw_der()
    pp.create_ext_grid(net, bus=20)
    with pytest.raises(PowerFlowError, match="ext_grid"):
        make_solver(net)


def test_make_solver_backends() -> None:
    net = case33bw_der()
    assert isinstance(make_solver(net, backend="lightsim2grid"), LightSimSolver)
    assert isinstance(make_solver(net), SweepSolver)  # the default, alias "fast"
    assert isinstance(make_solver(net, backend="fast"), SweepSolver)
    with pytest.raises(ValueError, match="lightsim2grid.*pandapower|pandapower.*lightsim2grid"):
        make_solver(net, backend="nope")


def test_results_layout_and_units() -> None:
    net = oberrhein_sub()
    res = make_solver(net).solve()
    assert res.vm_pu.shape == (len(net.bus),)
    assert res.line_loading_pct.shape == (len(net.line),)
    assert res.trafo_loading_pct.shape == (len(net.trafo),)
    assert res.ext_grid_p_mw.shape == (len(net.ext_grid),)
    # the slack supplies loads + losses - generation (MW, import positive)
    sc = net.load.scaling.to_numpy()
    demand = (net.load.p_mw.to_numpy() * sc).sum() - net.sgen.p_mw.mul(net.sgen.scaling).sum()
    assert res.ext_grid_p_mw.sum() == pytest.approx(demand + res.losses_mw, abs=1e-5)
    assert res.losses_mw > 0


@pytest.mark.parametrize("backend", FAST)
def test_write_results_to_net_matches_runpp(backend: str) -> None:
    net = cigre_mv_der()
    fast = make_solver(copy.deepcopy(net), backend=backend)
    inj = _random_injections(net, np.random.default_rng(7))
    _apply(fast, inj)
    fast.set_trafo_taps(np.array([3, -2]))
    fast.solve()
    fast.write_results_to_net()
    ref_net = copy.deepcopy(fast.net)  # inputs were written back: runpp on the same state
    pp.runpp(ref_net, calculate_voltage_angles=True, tolerance_mva=1e-10, numba=False)
    for table, cols in {
        "res_bus": ["vm_pu", "va_degree", "p_mw", "q_mvar"],
        "res_line": ["p_from_mw", "q_from_mvar", "p_to_mw", "q_to_mvar", "i_ka", "loading_percent"],
        "res_trafo": ["p_hv_mw", "q_lv_mvar", "pl_mw", "i_lv_ka", "loading_percent"],
        "res_ext_grid": ["p_mw", "q_mvar"],
        "res_load": ["p_mw", "q_mvar"],
        "res_sgen": ["p_mw", "q_mvar"],
        "res_storage": ["p_mw", "q_mvar"],
    }.items():
        for c in cols:
            np.testing.assert_allclose(
                fast.net[table][c].to_numpy(dtype=float),
                ref_net[table][c].to_numpy(dtype=float),
                atol=1e-5,
                rtol=0,
                equal_nan=True,
                err_msg=f"{table}.{c}",
            )


# ----------------------------------------------------------------------------- shipped setups
@pytest.mark.parametrize("setup", ["single_microgrid", "ieee34_ieee13", "ieee123_5mg"])
def test_shipped_setups_match_pandapower(setup: str) -> None:
    """Every step of every shipped setup (random actions, regulators moving taps) agrees
    with pp.runpp on the same inputs: 50 feasible patterns each."""
    from powergrid.envs.multi_agent_microgrids import MultiAgentMicrogrids
    from powergrid.networks import initial_voltages
    from powergrid.setups.loader import load_setup

    cfg = load_setup(setup)
    cfg.update({"train": True, "max_episode_steps": 24})
    env = MultiAgentMicrogrids(cfg)
    ref = make_solver(copy.deepcopy(env.net), backend="pandapower")
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    gm = env.grid_model
    for k in range(N_PATTERNS):
        if not env.agents:
            env.reset()
        env.step({a: rng.uniform(-1, 1, env.action_space(a).shape) for a in env.agents})
        ref.set_loads(gm.load_p, gm.load_q)
        if gm.sgen_p.size:
            ref.set_sgens(gm.sgen_p, gm.sgen_q)
        if gm.storage_p.size:
            ref.set_storages(gm.storage_p, gm.storage_q)
        ref.set_trafo_taps(gm.tap_pos)
        tapped = copy.deepcopy(env.net)
        has_tap = tapped.trafo.tap_pos.notna().to_numpy()
        tapped.trafo.loc[has_tap, "tap_pos"] = gm.tap_pos[has_tap]
        ref.set_initial_voltages(*initial_voltages(tapped))  # cold start for these taps
        _assert_match(env.last_result, ref.solve(), f"{setup} step {k}")


@pytest.mark.parametrize("backend", [*FAST, "pandapower"])
def test_set_injections_is_the_three_setters_in_one(backend: str) -> None:
    """One combined vector (loads | sgens | storages), validated once, solves the same
    grid as the three per-table setters; a NaN names its table and row."""
    net = case33bw_der()
    inj = _random_injections(net, np.random.default_rng(11))
    split, combined = make_solver(copy.deepcopy(net), backend=backend), make_solver(
        copy.deepcopy(net), backend=backend)
    _apply(split, inj)
    p = np.concatenate([inj[k][0] for k in ("loads", "sgens", "storages")])
    q = np.concatenate([inj[k][1] for k in ("loads", "sgens", "storages")])
    combined.set_injections(p, q)
    a, b = split.solve(), combined.solve()
    np.testing.assert_array_equal(a.vm_pu, b.vm_pu)
    np.testing.assert_array_equal(a.line_loading_pct, b.line_loading_pct)
    p[len(net.load) + 1] = np.nan
    with pytest.raises(ValueError, match=r"injection p_mw.*net\.sgen rows \[1\]"):
        combined.set_injections(p, q)
    with pytest.raises(ValueError, match="injection q_mvar"):
        combined.set_injections(q, q[:-1])


@pytest.mark.parametrize("backend", [*FAST, "pandapower"])
def test_set_trafo_tap_moves_one_changer_like_the_vector_setter(backend: str) -> None:
    """The one-tap setter (a regulator round) rounds and clips as set_trafo_taps does."""
    net = cigre_mv_der()
    one, vec = (make_solver(copy.deepcopy(net), backend=backend) for _ in range(2))
    one.set_trafo_tap(0, 3.4)
    one.set_trafo_tap(1, 40.0)  # clipped to tap_max (9)
    vec.set_trafo_taps(np.array([3, 9]))
    np.testing.assert_array_equal(one.solve().vm_pu, vec.solve().vm_pu)
    with pytest.raises(ValueError, match="trafo tap_pos"):
        one.set_trafo_tap(0, np.nan)
