"""Fast backend: pandapower's own network model, compiled once, solved by lightsim2grid.

Design (why it looks like this):

* **The model is pandapower's.** Instead of re-deriving line/transformer
  parameters (and getting parallel lines, ``tap_neutral``, phase shifts,
  tap-dependent impedances, bus-bus switches ... subtly different), the network is
  compiled by pandapower itself once (``runpp`` on a private copy) and the per-unit
  branch matrix of its internal PYPOWER case is read back. Admittances are built
  with pandapower's own ``branch_vectors``. The converter shipped with
  lightsim2grid (``init_from_pandapower``) was rejected because it silently ignores
  switches and assumes transformer rated voltages equal the bus voltages.
* **The Newton solver is lightsim2grid's** (C++, KLU sparse LU): the expensive
  part of a step stays in a maintained, compiled library. The energised part of
  the network is loaded into an ``LSGrid`` (every branch as a PYPOWER-model
  transformer, one shunt and one load per bus) because only ``LSGrid.ac_pf``
  keeps KLU's symbolic analysis between calls -- the stand-alone
  ``NRSing_KLU.solve`` redoes it every call and is ~2x slower. The LSGrid
  admittance matrix is checked once against pandapower's; on a mismatch (or for
  asymmetric branches) the stand-alone kernel is used. Python only assembles the
  bus injections (one ``bincount``) and evaluates branch flows (one sparse
  product and a few vectorised numpy operations).
* **Only what changes is recomputed.** Injections are written into preallocated
  vectors. Tap changes swap precomputed branch parameters (a per-position table
  built on first use with pandapower's own transformer formulas, so tap side,
  ``tap_neutral``, tap-dependent impedance ... follow pandapower) and update the
  LSGrid transformers in place. Switch / line-status changes rebuild the reduced
  model (well under a millisecond), and only then.
* **Open switches** are modelled like pandapower does it (a line/trafo open at one
  end stays energised from the other end, with its charging current): pandapower
  adds an auxiliary bus, here that bus is eliminated exactly (Kron reduction), so
  the results are identical. Buses without a path to the slack are dropped from
  the solve and reported as NaN, again like pandapower.

Supported: bus, line, trafo (2-winding), load, sgen, storage, shunt, one
ext_grid, switches on lines and transformers (toggle at will), bus-bus switches
(fixed at compile time). Anything else raises :class:`PowerFlowError` at
construction; use ``backend="pandapower"`` for such networks.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

import numpy as np
import pandapower as pp
import pandas as pd
from lightsim2grid.algorithm import AlgorithmType
from lightsim2grid.network import LSGrid
from pandapower.auxiliary import LoadflowNotConverged
from pandapower.build_branch import _calc_branch_values_from_trafo_df
from pandapower.pypower.idx_brch import (
    BR_B,
    BR_B_ASYM,
    BR_G,
    BR_G_ASYM,
    BR_R,
    BR_R_ASYM,
    BR_STATUS,
    BR_X,
    BR_X_ASYM,
    SHIFT,
    TAP,
)
from pandapower.pypower.idx_bus import BASE_KV, BS, GS, VA, VM
from pandapower.pypower.makeYbus import branch_vectors
from scipy import sparse
from scipy.sparse.csgraph import breadth_first_order, connected_components

from .base import TABLE_SIGN, PowerFlowError, PowerFlowResult, PowerFlowSolver
from .reference import RUNPP_OPTIONS

try:  # KLU is the fast sparse LU; SparseLU (Eigen) is always built
    from lightsim2grid.algorithm import NRSing_KLU as _NewtonAlgo

    _LS_ALGO = AlgorithmType.NRSing_KLU
except ImportError:  # pragma: no cover - depends on the lightsim2grid build
    from lightsim2grid.algorithm import NRSing_SparseLU as _NewtonAlgo

    _LS_ALGO = AlgorithmType.NRSing_SparseLU

_SQRT3 = np.sqrt(3.0)
_RAD2DEG = 180.0 / np.pi

#: element tables this backend cannot model (any in-service row -> PowerFlowError)
UNSUPPORTED_TABLES: tuple[str, ...] = (
    "gen",
    "trafo3w",
    "ward",
    "xward",
    "impedance",
    "dcline",
    "motor",
    "asymmetric_load",
    "asymmetric_sgen",
    "svc",
    "tcsc",
    "ssc",
    "vsc",
    "line_dc",
    "bus_dc",
    "source_dc",
    "load_dc",
    "b2b_vsc",
    "vsc_bipolar",
)

#: ZIP-load columns: the compiled model has constant-power loads only
_ZIP_COLUMNS: tuple[str, ...] = (
    "const_z_percent",
    "const_i_percent",
    "const_z_p_percent",
    "const_i_p_percent",
    "const_z_q_percent",
    "const_i_q_percent",
)


def _split_f32(x: np.ndarray) -> np.ndarray:
    """``[hi, lo]`` in float32 with ``hi + lo == x`` to ~1e-14 relative (see _build_lsgrid)."""
    hi = x.astype(np.float32)
    return np.concatenate([hi, (x - hi).astype(np.float32)])


def check_supported(net: Any) -> None:
    """Raise :class:`PowerFlowError` naming the first element table the backend cannot model."""
    hint = 'use make_solver(net, backend="pandapower") for this network'
    for table in UNSUPPORTED_TABLES:
        if table not in net:
            continue
        df = net[table]
        if not isinstance(df, pd.DataFrame) or df.empty:
            continue
        active = (
            df["in_service"].to_numpy(dtype=bool) if "in_service" in df else np.ones(len(df), bool)
        )
        if active.any():
            raise PowerFlowError(
                f"lightsim2grid backend: net.{table} has {int(active.sum())} in-service element(s), "
                f"which this backend does not model; {hint}"
            )
    eg = net.ext_grid
    eg_buses = np.unique(eg.loc[eg.in_service.to_numpy(dtype=bool), "bus"].to_numpy())
    if eg_buses.size != 1 or int(eg.in_service.sum()) != 1:
        raise PowerFlowError(
            "lightsim2grid backend: exactly one in-service net.ext_grid is supported "
            f"(found {int(eg.in_service.sum())} on {eg_buses.size} bus(es)); {hint}"
        )
    for column in _ZIP_COLUMNS:
        if column in net.load and np.any(net.load[column].fillna(0.0).to_numpy() != 0.0):
            raise PowerFlowError(
                f"lightsim2grid backend: net.load.{column} is non-zero (voltage-dependent loads "
                f"are not modelled, all loads are constant power); {hint}"
            )


class LightSimSolver(PowerFlowSolver):
    """Compiled power flow; see the module docstring for the model and its limits.

    ``max_iter`` / ``tol`` (per-unit mismatch, as pandapower's ``tolerance_mva``)
    are the Newton settings of each attempt. A solve first warm-starts from the
    last converged state; if that fails it retries once from a flat start (|V| = 1
    with the transformer phase shifts); if that fails too the result is all-NaN with
    ``converged=False`` and the next solve warm-starts from the last good state
    again. ``use_lsgrid=False`` selects the stand-alone Newton kernel (see
    ``_newton``) instead of the LSGrid one (same results, slower).
    """

    backend = "lightsim2grid"

    def __init__(
        self, net: Any, *, max_iter: int = 20, tol: float = 1e-8, use_lsgrid: bool = True
    ) -> None:
        check_supported(net)
        super().__init__(net, max_iter=max_iter, tol=tol)
        self._compile(net)
        # False: stand-alone Newton on our own Ybus (same answer, ~2x slower Newton since
        # KLU re-analyses the Jacobian on every call); kept as the fallback path
        self._use_lsgrid = self._use_lsgrid and use_lsgrid

    # ================================================================ compilation
    def _compile(self, net: Any) -> None:
        # pandapower builds its internal case on a private copy in which every line /
        # trafo switch is closed, so that every branch connects its real buses; the
        # actual switch states are applied by this class (and may change later).
        work = copy.deepcopy(net)
        if len(work.switch):
            lt = work.switch["et"].isin(["l", "t"]).to_numpy()
            work.switch.loc[lt, "closed"] = True
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                pp.runpp(
                    work,
                    init="auto",
                    max_iteration=max(self.max_iter, 30),
                    tolerance_mva=self.tol,
                    voltage_depend_loads=False,
                    # one-off compile: numba's JIT warm-up (seconds per process) would
                    # cost far more than the pure-Python solve it speeds up
                    **{**RUNPP_OPTIONS, "numba": False},
                )
                compiled_converged = True
            except LoadflowNotConverged:
                compiled_converged = False
        self._work = work
        ppc = work._ppc
        lookups = work._pd2ppc_lookups
        self._ppc = ppc
        self._base_mva = float(ppc["baseMVA"])
        bus_lookup = np.asarray(lookups["bus"])
        nb = ppc["bus"].shape[0]
        self._nb = nb
        self._base_kv = ppc["bus"][:, BASE_KV].astype(np.float64)

        # --- buses ---------------------------------------------------------------
        self._bus_rows = bus_lookup[net.bus.index.to_numpy()]
        alive = np.zeros(nb, dtype=bool)
        in_service_buses = net.bus.index[net.bus["in_service"].to_numpy(dtype=bool)].to_numpy()
        alive[bus_lookup[in_service_buses]] = True
        self._bus_alive = alive
        self._ysh = (ppc["bus"][:, GS] + 1j * ppc["bus"][:, BS]) / self._base_mva

        # --- branches (all of pandapower's, in its order: lines, trafos, others) ---
        branch = np.array(ppc["branch"], copy=True)
        nbr = branch.shape[0]
        ranges = {k: (int(v[0]), int(v[1])) for k, v in lookups["branch"].items()}
        self._line_rng = ranges.get("line", (0, 0))
        self._trafo_rng = ranges.get("trafo", (self._line_rng[1], self._line_rng[1]))
        f_bus = branch[:, 0].real.astype(np.int64)
        t_bus = branch[:, 1].real.astype(np.int64)
        lf, lt_ = self._line_rng
        tf, tt = self._trafo_rng
        # auxiliary buses of pandapower (lines at out-of-service buses) are not used:
        # branches are attached to their real buses, and the open end is handled here
        f_bus[lf:lt_] = bus_lookup[net.line["from_bus"].to_numpy()]
        t_bus[lf:lt_] = bus_lookup[net.line["to_bus"].to_numpy()]
        f_bus[tf:tt] = bus_lookup[net.trafo["hv_bus"].to_numpy()]
        t_bus[tf:tt] = bus_lookup[net.trafo["lv_bus"].to_numpy()]
        self._f, self._t = f_bus, t_bus
        self._nbr = nbr
        # static in-service flag of branches other than lines (lines: set_line_in_service)
        static_ok = branch[:, BR_STATUS].real > 0
        static_ok[tf:tt] = net.trafo["in_service"].to_numpy(dtype=bool)
        static_ok[tf:tt] &= alive[f_bus[tf:tt]] & alive[t_bus[tf:tt]]
        others = np.ones(nbr, dtype=bool)
        others[lf:lt_] = False
        others[tf:tt] = False
        static_ok[others] &= alive[f_bus[others]] & alive[t_bus[others]]
        self._static_ok = static_ok
        branch[:, BR_STATUS] = 1.0  # raw admittances; statuses are applied by this class
        self._branch = branch
        ytt, yff, yft, ytf = branch_vectors(branch, nbr)
        self._yff = np.asarray(yff, dtype=np.complex128).copy()
        self._yft = np.asarray(yft, dtype=np.complex128).copy()
        self._ytf = np.asarray(ytf, dtype=np.complex128).copy()
        self._ytt = np.asarray(ytt, dtype=np.complex128).copy()
        # the same branches as PYPOWER parameters (what an LSGrid transformer takes)
        self._br_r = branch[:, BR_R].real.copy()
        self._br_x = branch[:, BR_X].real.copy()
        self._br_y = branch[:, BR_G].real + 1j * branch[:, BR_B].real
        tap = branch[:, TAP].real
        self._br_ratio = np.where(tap != 0.0, tap, 1.0)
        self._br_shift = branch[:, SHIFT].real.copy()
        asym = branch[:, [BR_R_ASYM, BR_X_ASYM, BR_G_ASYM, BR_B_ASYM]].real
        # an LSGrid branch is symmetric; asymmetric ones (non-default leakage split of a
        # T-model trafo) are solved by the stand-alone Newton kernel instead
        self._use_lsgrid = not np.any(asym != 0.0)
        self._tap_table: tuple[np.ndarray, ...] | None = None

        # --- result scaling ----------------------------------------------------------
        line = net.line
        imax = (line["max_i_ka"] * line["df"] * line["parallel"]).to_numpy(dtype=np.float64)
        self._line_imax = imax
        with np.errstate(divide="ignore"):
            self._line_k = 100.0 / imax  # pandapower: loading = inf without a rating
        self._line_no_rating = np.flatnonzero(imax == 0)
        # kA per unit of branch current at each end (base current of the end's bus)
        self._ibase_ft = self._base_mva / (
            _SQRT3 * np.concatenate([self._base_kv[f_bus], self._base_kv[t_bus]])
        )
        trafo = net.trafo
        sn = trafo["sn_mva"].to_numpy(dtype=np.float64)
        denom = (
            sn
            * trafo["parallel"].to_numpy(dtype=np.float64)
            * trafo["df"].to_numpy(dtype=np.float64)
        )
        self._trafo_k_hv = trafo["vn_hv_kv"].to_numpy(dtype=np.float64) * _SQRT3 * 100.0 / denom
        self._trafo_k_lv = trafo["vn_lv_kv"].to_numpy(dtype=np.float64) * _SQRT3 * 100.0 / denom

        # --- switches --------------------------------------------------------------
        self._compile_switches(net)

        # --- slack -------------------------------------------------------------------
        eg = net.ext_grid
        eg_on = eg["in_service"].to_numpy(dtype=bool)
        self._eg_pos = int(np.flatnonzero(eg_on)[0])
        self._ref = int(bus_lookup[int(eg["bus"].iloc[self._eg_pos])])
        self._v_ref = float(eg["vm_pu"].iloc[self._eg_pos]) * np.exp(
            1j * np.deg2rad(float(eg["va_degree"].iloc[self._eg_pos]))
        )

        # --- injections: one concatenated vector [loads | sgens | storages] ----------
        def elem(df: Any, sign: float) -> tuple[np.ndarray, np.ndarray]:
            buses = bus_lookup[df["bus"].to_numpy()] if len(df) else np.zeros(0, np.int64)
            scale = (
                df["scaling"].to_numpy(dtype=np.float64) if "scaling" in df else np.ones(len(df))
            )
            w = sign * scale * df["in_service"].to_numpy(dtype=np.float64)
            return buses.astype(np.int64), w

        parts = [elem(net[table], TABLE_SIGN[table]) for table in ("load", "sgen", "storage")]
        self._inj_bus = np.concatenate([p[0] for p in parts])
        self._inj_w = np.concatenate([p[1] for p in parts]) / self._base_mva
        nl, ns, nst = len(net.load), len(net.sgen), len(net.storage)
        self._sl_load = slice(0, nl)
        self._sl_sgen = slice(nl, nl + ns)
        self._sl_storage = slice(nl + ns, nl + ns + nst)
        self._inj_p = np.concatenate([self._load_p, self._sgen_p, self._storage_p])
        self._inj_q = np.concatenate([self._load_q, self._sgen_q, self._storage_q])

        # --- voltages ----------------------------------------------------------------
        self._v_flat = self._flat_start()
        if compiled_converged:
            va = np.deg2rad(ppc["bus"][:, VA].real)
            v0 = ppc["bus"][:, VM].real * np.exp(1j * va)
            v0 = np.where(np.isfinite(v0) & (np.abs(v0) > 0), v0, self._v_flat)
        else:
            v0 = self._v_flat.copy()
        self._v = v0.astype(np.complex128)

        self._algo = _NewtonAlgo()
        self._ls: Any = None  # LSGrid holding the reduced model (rebuilt on topology change)
        self._ls_checked = False
        self._tap_rows_changed = np.zeros(0, dtype=np.int64)
        self._topo_dirty = True
        self._y_dirty = True

    def _compile_switches(self, net: Any) -> None:
        """Map every switch to (branch row, side) or flag it as bus-bus / unsupported."""
        sw = net.switch
        n = len(sw)
        self._sw_branch = np.full(n, -1, dtype=np.int64)
        self._sw_is_from = np.zeros(n, dtype=bool)
        self._sw_bus_bus = np.zeros(n, dtype=bool)
        if n == 0:
            self._side_f_closed = np.ones(self._nbr, dtype=bool)
            self._side_t_closed = np.ones(self._nbr, dtype=bool)
            return
        et = sw["et"].to_numpy()
        elements = sw["element"].to_numpy()
        buses = sw["bus"].to_numpy()
        lf = self._line_rng[0]
        tf = self._trafo_rng[0]
        for i in range(n):
            if et[i] == "l":
                pos = net.line.index.get_loc(int(elements[i]))
                self._sw_branch[i] = lf + pos
                self._sw_is_from[i] = int(net.line["to_bus"].iat[pos]) != int(buses[i])
            elif et[i] == "t":
                pos = net.trafo.index.get_loc(int(elements[i]))
                self._sw_branch[i] = tf + pos
                self._sw_is_from[i] = int(net.trafo["hv_bus"].iat[pos]) == int(buses[i])
            elif et[i] == "b":
                self._sw_bus_bus[i] = True
            # other element types (trafo3w) are rejected by check_supported
        self._apply_switch_states(self._switch_closed)

    def _apply_switch_states(self, closed: np.ndarray) -> None:
        """A branch end is closed when every switch at that end is closed."""
        on_branch = self._sw_branch >= 0
        open_ = on_branch & ~closed
        nbr = self._nbr
        n_open_f = np.bincount(self._sw_branch[open_ & self._sw_is_from], minlength=nbr)
        n_open_t = np.bincount(self._sw_branch[open_ & ~self._sw_is_from], minlength=nbr)
        self._side_f_closed = n_open_f == 0
        self._side_t_closed = n_open_t == 0

    def _flat_start(self) -> np.ndarray:
        """|V| = 1 (slack: its setpoint) with angles propagated through trafo phase shifts.

        Why not plain 1∠0: behind a Dyn5 transformer the solution sits near -150°, and
        Newton from 0° can fail there; pandapower's own initialisation does the same.
        """
        nb = self._nb
        f, t = self._f, self._t
        shift = np.deg2rad(self._branch[:, SHIFT].real)
        g = sparse.csr_matrix((np.ones(2 * len(f)), (np.r_[f, t], np.r_[t, f])), shape=(nb, nb))
        order, pred = breadth_first_order(g, self._ref, directed=False, return_predecessors=True)
        # angle of a bus = angle of its BFS parent minus/plus the shift of the connecting branch
        pair = {}
        for k in range(len(f)):
            pair.setdefault((int(f[k]), int(t[k])), -shift[k])
            pair.setdefault((int(t[k]), int(f[k])), shift[k])
        va = np.zeros(nb)
        va[self._ref] = np.angle(self._v_ref)
        for b in order[1:]:
            p = pred[b]
            va[b] = va[p] + pair.get((int(p), int(b)), 0.0)
        v = np.exp(1j * va)
        v[self._ref] = self._v_ref
        return v

    def _ensure_tap_table(self) -> None:
        """Admittances of every transformer at every tap position, from pandapower's formulas.

        Built on the first tap change (tens of ms for a +-16 step regulator) so that
        every later tap change is an array lookup.
        """
        if self._tap_table is not None:
            return
        tf, tt = self._trafo_rng
        n = tt - tf
        m = self._tappable
        span = int(np.max(self._tap_max[m] - self._tap_min[m])) + 1 if m.any() else 1
        trafo_df = self._work.trafo.copy()
        rows = self._branch[tf:tt].copy()
        tab = np.zeros((4, span, n), dtype=np.complex128)
        par = np.zeros((5, span, n), dtype=np.complex128)  # r, x, g+jb, ratio, shift
        base_taps = trafo_df["tap_pos"].to_numpy(dtype=np.float64, na_value=np.nan)
        for k in range(span):
            taps = base_taps.copy()
            taps[m] = np.minimum(self._tap_min[m] + k, self._tap_max[m])
            trafo_df["tap_pos"] = taps
            r, x, g, b, g_asym, b_asym, ratio, shift = _calc_branch_values_from_trafo_df(
                self._work, self._ppc, trafo_df
            )
            rows[:, BR_R] = r
            rows[:, BR_X] = x
            rows[:, BR_G] = g
            rows[:, BR_B] = b
            rows[:, BR_G_ASYM] = g_asym
            rows[:, BR_B_ASYM] = b_asym
            rows[:, TAP] = ratio
            rows[:, SHIFT] = shift
            ytt, yff, yft, ytf = branch_vectors(rows, n)
            tab[0, k], tab[1, k], tab[2, k], tab[3, k] = yff, yft, ytf, ytt
            par[0, k], par[1, k], par[2, k] = r, x, g + 1j * b
            par[3, k] = np.where(ratio != 0.0, ratio, 1.0)
            par[4, k] = shift
            if np.any(np.asarray(g_asym) != 0.0) or np.any(np.asarray(b_asym) != 0.0):
                self._use_lsgrid = False
        self._tap_table = (tab[0], tab[1], tab[2], tab[3])
        self._tap_params = (par[0].real, par[1].real, par[2], par[3].real, par[4].real)

    # ================================================================ input hooks
    def _loads_changed(self) -> None:
        self._inj_p[self._sl_load] = self._load_p
        self._inj_q[self._sl_load] = self._load_q

    def _sgens_changed(self) -> None:
        self._inj_p[self._sl_sgen] = self._sgen_p
        self._inj_q[self._sl_sgen] = self._sgen_q

    def _storages_changed(self) -> None:
        self._inj_p[self._sl_storage] = self._storage_p
        self._inj_q[self._sl_storage] = self._storage_q

    def _taps_changed(self, changed: np.ndarray) -> None:
        self._ensure_tap_table()
        assert self._tap_table is not None
        idx = np.flatnonzero(changed)
        k = (self._tap_pos[idx] - self._tap_min[idx]).astype(np.int64)
        rows = self._trafo_rng[0] + idx
        t_ff, t_ft, t_tf, t_tt = self._tap_table
        self._yff[rows] = t_ff[k, idx]
        self._yft[rows] = t_ft[k, idx]
        self._ytf[rows] = t_tf[k, idx]
        self._ytt[rows] = t_tt[k, idx]
        p_r, p_x, p_y, p_ratio, p_shift = self._tap_params
        self._br_r[rows] = p_r[k, idx]
        self._br_x[rows] = p_x[k, idx]
        self._br_y[rows] = p_y[k, idx]
        self._br_ratio[rows] = p_ratio[k, idx]
        self._br_shift[rows] = p_shift[k, idx]
        self._y_dirty = True
        self._tap_rows_changed = np.union1d(self._tap_rows_changed, rows)

    def _switches_changed(self, closed: np.ndarray, changed: np.ndarray) -> None:
        if np.any(changed & self._sw_bus_bus):
            bad = self.net.switch.index[changed & self._sw_bus_bus].tolist()
            raise PowerFlowError(
                f"lightsim2grid backend: bus-bus switches {bad[:10]} cannot be toggled (bus "
                "fusion is fixed when the network is compiled); rebuild the solver or use "
                'backend="pandapower"'
            )
        self._apply_switch_states(closed)
        self._topo_dirty = True

    def _lines_changed(self, changed: np.ndarray) -> None:
        self._topo_dirty = True

    # ================================================================ model assembly
    def _rebuild_topology(self) -> None:
        """Branch end states -> energised buses, active branch terms, Y pattern."""
        nb, f, t = self._nb, self._f, self._t
        ok = self._static_ok.copy()
        lf, lt_ = self._line_rng
        alive = self._bus_alive
        ok[lf:lt_] = self._line_in_service
        side_f = ok & self._side_f_closed & alive[f]
        side_t = ok & self._side_t_closed & alive[t]
        both = side_f & side_t
        g = sparse.csr_matrix((np.ones(int(both.sum())), (f[both], t[both])), shape=(nb, nb))
        _, labels = connected_components(g, directed=False)
        keep_mask = (labels == labels[self._ref]) & alive
        keep = np.flatnonzero(keep_mask)
        n_red = keep.size
        red = np.full(nb, -1, dtype=np.int64)
        red[keep] = np.arange(n_red)
        self._keep_mask = keep_mask
        self._keep = keep
        self._red = red
        self._n_red = n_red
        self._ref_red = int(red[self._ref])
        self._full_act = both & keep_mask[f]
        self._f_only = side_f & ~side_t & keep_mask[f]
        self._t_only = side_t & ~side_f & keep_mask[t]

        # sparsity pattern (CSC, sorted) of the reduced Ybus and where each term lands
        fa, fo, to = self._full_act, self._f_only, self._t_only
        rf, rt = red[f], red[t]
        ff_mask = fa | fo
        tt_mask = fa | to
        rows = np.concatenate([rf[ff_mask], rf[fa], rt[fa], rt[tt_mask], np.arange(n_red)])
        cols = np.concatenate([rf[ff_mask], rt[fa], rf[fa], rt[tt_mask], np.arange(n_red)])
        key = cols * n_red + rows
        ukey, pos = np.unique(key, return_inverse=True)
        self._y_pos = pos
        self._y_nnz = ukey.size
        self._y_indices = (ukey % n_red).astype(np.int32)
        self._y_indptr = np.concatenate(
            [[0], np.cumsum(np.bincount(ukey // n_red, minlength=n_red))]
        ).astype(np.int32)
        self._ff_mask, self._tt_mask = ff_mask, tt_mask
        # fixed-pattern matrices; _rebuild_admittance only rewrites their .data
        self._ybus = sparse.csc_matrix(
            (np.zeros(ukey.size, dtype=np.complex128), self._y_indices, self._y_indptr),
            shape=(n_red, n_red),
        )
        y_cols = np.repeat(np.arange(n_red), np.diff(self._y_indptr))
        self._ref_pos = np.flatnonzero(self._y_indices == self._ref_red)
        self._ref_cols = y_cols[self._ref_pos]
        # branch end currents as one sparse product: [I_from; I_to] = Ybr @ V (reduced V);
        # its terms are the first four blocks of the Ybus terms, in the same order
        nbr = self._nbr
        idx = np.arange(nbr)
        br_rows = np.concatenate([idx[ff_mask], idx[fa], nbr + idx[fa], nbr + idx[tt_mask]])
        br_cols = np.concatenate([rf[ff_mask], rt[fa], rf[fa], rt[tt_mask]])
        m = br_rows.size
        order = sparse.csr_matrix(
            (np.arange(1.0, m + 1.0), (br_rows, br_cols)), shape=(2 * nbr, n_red)
        )
        if order.nnz == m:  # no duplicate (a branch between two fused buses would add one)
            self._ybr_perm: np.ndarray | None = (order.data - 1.0).astype(np.int64)
            self._ybr = sparse.csr_matrix(
                (np.zeros(m, dtype=np.complex128), order.indices, order.indptr),
                shape=(2 * nbr, n_red),
            )
        else:
            self._ybr_perm = None
            self._ybr_coo = (br_rows, br_cols)

        # injections of elements on energised buses, in reduced numbering
        inj_red = red[self._inj_bus]
        self._inj_on = inj_red >= 0
        self._inj_red = inj_red[self._inj_on]
        self._inj_on_idx = np.flatnonzero(self._inj_on)
        self._inj_all_on = bool(self._inj_on.all())
        self._inj_w_on = self._inj_w[self._inj_on]
        self._pq = np.delete(np.arange(n_red, dtype=np.int32), self._ref_red)
        self._pv = np.zeros(0, dtype=np.int32)
        self._slack_ids = np.array([self._ref_red], dtype=np.int32)
        self._slack_w = np.zeros(n_red)
        self._slack_w[self._ref_red] = 1.0
        dead = ~keep_mask[self._bus_rows]
        self._bus_dead = np.flatnonzero(dead)
        # reduced index of each bus (0 for dead ones: their rows are masked to NaN) and of
        # both ends of every branch (0 where dead: the current there is exactly zero)
        self._bus_red = np.where(dead, 0, red[self._bus_rows])
        self._ft_red = np.maximum(np.concatenate([red[f], red[t]]), 0)
        self._algo.reset()  # the Jacobian structure changed
        self._ls = None
        self._topo_dirty = False
        self._y_dirty = True

    def _rebuild_admittance(self) -> None:
        """Effective branch terms (with Kron-reduced open ends) and reduced Ybus values."""
        fa, fo, to = self._full_act, self._f_only, self._t_only
        yff, yft, ytf, ytt = self._yff, self._yft, self._ytf, self._ytt
        zero = np.zeros(self._nbr, dtype=np.complex128)
        with np.errstate(divide="ignore", invalid="ignore"):
            eq_f = yff - yft * ytf / ytt  # branch open at its "to" end, seen from "from"
            eq_t = ytt - ytf * yft / yff  # branch open at its "from" end, seen from "to"
        e_ff = np.where(fa, yff, zero) + np.where(fo, eq_f, zero)
        e_tt = np.where(fa, ytt, zero) + np.where(to, eq_t, zero)
        e_ft = np.where(fa, yft, zero)
        e_tf = np.where(fa, ytf, zero)
        self._e_ff, self._e_ft, self._e_tf, self._e_tt = e_ff, e_ft, e_tf, e_tt
        vals = np.concatenate(
            [
                e_ff[self._ff_mask],
                e_ft[fa],
                e_tf[fa],
                e_tt[self._tt_mask],
                self._ysh[self._keep],
            ]
        )
        n = self._y_nnz
        self._ybus.data[:] = np.bincount(self._y_pos, weights=vals.real, minlength=n)
        self._ybus.data.imag = np.bincount(self._y_pos, weights=vals.imag, minlength=n)
        self._y_ref_row = np.zeros(self._n_red, dtype=np.complex128)
        self._y_ref_row[self._ref_cols] = self._ybus.data[self._ref_pos]
        vals_br = vals[: vals.size - self._n_red]
        if self._ybr_perm is not None:
            self._ybr.data[:] = vals_br[self._ybr_perm]
        else:
            self._ybr = sparse.csr_matrix(
                (vals_br, self._ybr_coo), shape=(2 * self._nbr, self._n_red)
            )
        self._y_dirty = False
        if self._use_lsgrid:
            changed = self._tap_rows_changed
            if self._ls is None or np.any(fo[changed] | to[changed]):
                self._build_lsgrid()
            elif changed.size:
                self._update_lsgrid_branches(changed)
        self._tap_rows_changed = np.zeros(0, dtype=np.int64)

    def _bus_shunts(self) -> np.ndarray:
        """Shunt admittance per energised bus: bus shunts + Kron-reduced half-open branches."""
        n, red = self._n_red, self._red
        fo, to = self._f_only, self._t_only
        idx = np.concatenate([red[self._f[fo]], red[self._t[to]]])
        y = np.concatenate([self._e_ff[fo], self._e_tt[to]])
        return (
            self._ysh[self._keep]
            + np.bincount(idx, weights=y.real, minlength=n)
            + 1j * np.bincount(idx, weights=y.imag, minlength=n)
        )

    def _build_lsgrid(self) -> None:
        """Put the reduced model in an LSGrid, so that KLU's analysis is reused across solves.

        Every energised branch becomes an LSGrid transformer (r, x, g+jb, ratio, shift:
        the PYPOWER branch model, which LSGrid's transformer reproduces exactly, checked
        against our own Ybus on the first solve); bus shunts and half-open branches
        become one shunt per bus; the injections one load per bus.
        """
        rows = np.flatnonzero(self._full_act)
        n, red, base = self._n_red, self._red, self._base_mva
        g = LSGrid()
        g.set_sn_mva(base)
        g.init_bus(n, 1, self._base_kv[self._keep], 0, rows.size)
        g.init_trafo(
            self._br_r[rows],
            self._br_x[rows],
            self._br_y[rows],
            self._br_ratio[rows],
            self._br_shift[rows],
            [True] * rows.size,
            red[self._f[rows]].astype(np.int32),
            red[self._t[rows]].astype(np.int32),
            True,
        )
        ysh = self._bus_shunts()
        buses = np.arange(n, dtype=np.int32)
        g.init_shunt(ysh.real * base, -ysh.imag * base, buses)
        # two loads per bus: LSGrid's vectorised setters take float32, so each bus power is
        # passed as a float32 value plus its float32 remainder (exact to ~1e-14 relative)
        g.init_loads(np.zeros(2 * n), np.zeros(2 * n), np.concatenate([buses, buses]))
        g.init_generators(
            np.zeros(1),
            np.array([abs(self._v_ref)]),
            np.array([-1e9]),
            np.array([1e9]),
            np.array([self._ref_red], dtype=np.int32),
        )
        g.add_gen_slackbus(0, 1.0)
        g.deactivate_result_computation()
        g.change_algorithm(_LS_ALGO)
        self._ls = g
        self._ls_rows = rows
        self._ls_pos = np.full(self._nbr, -1, dtype=np.int64)
        self._ls_pos[rows] = np.arange(rows.size)
        self._ls_mask = np.ones(2 * n, dtype=bool)

    def _update_lsgrid_branches(self, changed: np.ndarray) -> None:
        """New tap positions: new impedances of all LSGrid branches, ratio/shift of the changed."""
        g, rows = self._ls, self._ls_rows
        g.update_trafos_parameters(self._br_r[rows], self._br_x[rows], self._br_y[rows])
        for row in changed:
            k = int(self._ls_pos[row])
            if k >= 0:
                g.change_ratio_trafo(k, float(self._br_ratio[row]))
                g.change_shift_trafo_deg(k, float(self._br_shift[row]))

    def _sbus(self) -> np.ndarray:
        """Specified bus injections (p.u., reduced numbering) from the element vectors."""
        if self._inj_all_on:
            p_el, q_el = self._inj_p, self._inj_q
        else:
            p_el, q_el = self._inj_p[self._inj_on_idx], self._inj_q[self._inj_on_idx]
        w, idx, n = self._inj_w_on, self._inj_red, self._n_red
        p = np.bincount(idx, weights=w * p_el, minlength=n)
        q = np.bincount(idx, weights=w * q_el, minlength=n)
        return p + 1j * q

    # ================================================================ solving
    def _newton(self, v0: np.ndarray, s: np.ndarray) -> tuple[bool, int, np.ndarray]:
        v0[self._ref_red] = self._v_ref
        ok = self._algo.solve(
            self._ybus,
            v0,
            s,
            self._slack_ids,
            self._slack_w,
            self._pv,
            self._pq,
            self.max_iter,
            self.tol,
        )
        it = int(self._algo.get_nb_iter())
        v = np.asarray(self._algo.get_V())
        if ok and not np.isfinite(v).all():
            ok = False
        if not ok:
            self._algo.reset()  # do not let a diverged factorisation leak into the next call
        return bool(ok), it, v

    def _newton_lsgrid(self, v0: np.ndarray, s: np.ndarray) -> tuple[bool, int, np.ndarray]:
        g = self._ls
        base = self._base_mva
        g.update_loads_p(self._ls_mask, _split_f32(-base * s.real))
        g.update_loads_q(self._ls_mask, _split_f32(-base * s.imag))
        v0[self._ref_red] = self._v_ref
        v = g.ac_pf(v0, self.max_iter, self.tol)
        algo = g.get_solver()
        it = int(algo.get_nb_iter())
        ok = v.shape[0] == self._n_red and bool(algo.converged()) and bool(np.isfinite(v).all())
        if not ok:
            g.tell_solver_need_reset()
        elif not self._ls_checked:
            self._check_lsgrid()
        return ok, it, v

    def _check_lsgrid(self) -> None:
        """Once: the LSGrid admittance matrix must equal pandapower's, else stop using it."""
        self._ls_checked = True
        diff = abs(self._ls.get_Ybus() - self._ybus).max()
        if diff > 1e-9 * max(1.0, abs(self._ybus).max()):
            warnings.warn(
                f"lightsim2grid LSGrid model differs from pandapower's (|dY| = {diff:.2e}); "
                "falling back to the stand-alone Newton solver (slower)",
                RuntimeWarning,
                stacklevel=3,
            )
            self._use_lsgrid = False
            self._ls = None

    def _set_initial_voltages(self, vm: np.ndarray, va: np.ndarray) -> None:
        v = vm * np.exp(1j * np.deg2rad(va))
        self._v_flat[self._bus_rows] = v
        self._v_flat[self._ref] = self._v_ref
        if self.last_result is None:  # nothing better to warm-start from yet
            self._v[self._bus_rows] = v
            self._v[self._ref] = self._v_ref

    def solve(self) -> PowerFlowResult:
        ok, iterations, v, s = self._solve_core()
        if not ok:
            self.last_result = self._failed(iterations)
            return self.last_result
        self.last_result = self._results(iterations, v, s)
        return self.last_result

    def solve_voltages(self) -> tuple[bool, int, np.ndarray]:
        """Newton only: ``(converged, iterations, vm_pu per bus)``; no branch flows.

        Control loops (regulators) need a voltage after each tap move but the full
        result only once; :meth:`complete_result` then builds it without re-solving.
        """
        ok, iterations, v, s = self._solve_core()
        self._pending = (ok, iterations, v, s)
        if not ok:
            return False, iterations, np.full(len(self._bus_red), np.nan)
        vm = np.abs(v[self._bus_red])
        if self._bus_dead.size:
            vm[self._bus_dead] = np.nan
        return True, iterations, vm

    def complete_result(self) -> PowerFlowResult:
        ok, iterations, v, s = self._pending
        self.last_result = self._results(iterations, v, s) if ok else self._failed(iterations)
        return self.last_result

    def _solve_core(self) -> tuple[bool, int, np.ndarray, np.ndarray]:
        if self._topo_dirty:
            self._rebuild_topology()
        if self._y_dirty:
            self._rebuild_admittance()
        s = self._sbus()
        keep = self._keep
        newton = self._newton_lsgrid if self._use_lsgrid else self._newton
        ok, it, v = newton(self._v[keep].copy(), s)
        if ok and not self._use_lsgrid and newton is self._newton_lsgrid:
            ok, it, v = self._newton(self._v[keep].copy(), s)  # LSGrid was just rejected
        iterations = it
        if not ok:
            newton = self._newton_lsgrid if self._use_lsgrid else self._newton
            ok, it, v = newton(self._v_flat[keep].copy(), s)
            iterations += it
        if not ok:
            return False, iterations, v, s
        self._v[keep] = v
        self._s_spec = s
        return True, iterations, v, s

    def _branch_flows(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Complex power (MVA) and current (kA) at both ends of every branch.

        Returned stacked ``[from ends; to ends]``. Current magnitude is taken as
        |I| * I_base, which equals pandapower's |S| / (sqrt(3) |V| V_base).
        """
        i = self._ybr @ v
        s = v[self._ft_red] * i.conj() * self._base_mva
        return s, np.abs(i) * self._ibase_ft

    def _results(self, iterations: int, v: np.ndarray, s: np.ndarray) -> PowerFlowResult:
        nbr = self._nbr
        s_ft, ka = self._branch_flows(v)
        s_f, s_t = s_ft[:nbr], s_ft[nbr:]
        ka_f, ka_t = ka[:nbr], ka[nbr:]
        vb = v[self._bus_red]
        vm = np.abs(vb)
        va = np.arctan2(vb.imag, vb.real) * _RAD2DEG
        if self._bus_dead.size:
            vm[self._bus_dead] = np.nan
            va[self._bus_dead] = np.nan
        lf, lt_ = self._line_rng
        tf, tt = self._trafo_rng
        ka_line = np.maximum(ka_f[lf:lt_], ka_t[lf:lt_])
        line_loading = ka_line * self._line_k
        if self._line_no_rating.size:
            line_loading[self._line_no_rating] = np.inf
        trafo_loading = np.maximum(ka_f[tf:tt] * self._trafo_k_hv, ka_t[tf:tt] * self._trafo_k_lv)
        # slack: computed injection minus what the elements at the slack bus already inject
        r = self._ref_red
        s_ref = (v[r] * np.conj(self._y_ref_row @ v) - s[r]) * self._base_mva
        eg_p = np.zeros(self._n_ext_grid)
        eg_q = np.zeros(self._n_ext_grid)
        eg_p[self._eg_pos] = s_ref.real
        eg_q[self._eg_pos] = s_ref.imag
        pl = s_f.real + s_t.real
        return PowerFlowResult(
            converged=True,
            iterations=iterations,
            vm_pu=vm,
            va_deg=va,
            line_loading_pct=line_loading,
            line_p_from_mw=s_f[lf:lt_].real,
            line_q_from_mvar=s_f[lf:lt_].imag,
            line_pl_mw=pl[lf:lt_],
            line_i_ka=ka_line,
            trafo_loading_pct=trafo_loading,
            trafo_p_hv_mw=s_f[tf:tt].real,
            trafo_q_hv_mvar=s_f[tf:tt].imag,
            trafo_pl_mw=pl[tf:tt],
            ext_grid_p_mw=eg_p,
            ext_grid_q_mvar=eg_q,
            losses_mw=float(pl.sum()),
        )

    # ================================================================ export
    def export_compiled(self) -> dict[str, Any]:
        """Copy of the compiled model (current topology, admittances, tap table, injections).

        Why: the batched solver (:mod:`powergrid.powerflow.batched`) must solve exactly
        this model -- pandapower's admittances, tap formulas, injection weights and
        switch handling -- so it reads it from here instead of compiling a second,
        subtly different one. It only runs the steps the next ``solve`` would run
        anyway, so this solver's results do not change.
        """
        if self._topo_dirty:
            self._rebuild_topology()
        if self._y_dirty:
            self._rebuild_admittance()
        n_trafo = self._trafo_rng[1] - self._trafo_rng[0]
        if n_trafo and self._tappable.any():
            self._ensure_tap_table()
        names = (
            "_nb _keep _red _ref _v_ref _v _f _t _full_act _f_only _t_only _yff _yft _ytf _ytt "
            "_ysh _tappable _tap_min _tap_max _tap_pos _line_rng _trafo_rng _inj_bus _inj_w "
            "_sl_load _sl_sgen _sl_storage _base_mva _ibase_ft _line_k _line_no_rating "
            "_trafo_k_hv _trafo_k_lv _eg_pos _bus_rows _n_ext_grid _tap_table"
        ).split()
        return {name[1:]: copy.deepcopy(getattr(self, name)) for name in names}

    # ================================================================ inspection
    def write_results_to_net(self) -> None:
        """Write inputs and the last solution into ``net.res_*`` in pandapower's layout.

        After a non-converged solve every result column is NaN (pandapower would
        leave stale tables behind; NaN makes the failure visible in plots).
        """
        net = self.net
        self._write_inputs_to_net()
        res = self.last_result if self.last_result is not None else self.solve()
        ok = res.converged
        nan = np.nan
        s_ft, ka = self._branch_flows(self._v[self._keep])
        nbr = self._nbr
        s_f, s_t, ka_f, ka_t = s_ft[:nbr], s_ft[nbr:], ka[:nbr], ka[nbr:]
        if not ok:
            s_f = s_f * nan
            s_t = s_t * nan
            ka_f = ka_f * nan
            ka_t = ka_t * nan
        vm, va = res.vm_pu, res.va_deg

        # pandapower conventions for the tables: the open end of a half-open branch sits
        # on an auxiliary bus (voltage -ytf*Vf/ytt), and in-service branches inside a
        # de-energised island get NaN currents / loading
        active = self._full_act | self._f_only | self._t_only
        with np.errstate(divide="ignore", invalid="ignore"):
            v_aux_t = -self._ytf * self._v[self._f] / self._ytt
            v_aux_f = -self._yft * self._v[self._t] / self._yff
        v_side_f = np.where(self._t_only, v_aux_f, self._v[self._f])
        v_side_t = np.where(self._f_only, v_aux_t, self._v[self._t])
        island = ~active
        island[self._line_rng[0] : self._line_rng[1]] &= self._line_in_service
        island &= self._static_ok | (np.arange(self._nbr) < self._line_rng[1])
        ka_f = np.where(island, nan, ka_f)
        ka_t = np.where(island, nan, ka_t)

        # a branch end shows NaN when its (possibly auxiliary) bus is not energised
        dead_f = island | (~self._t_only & ~self._keep_mask[self._f])
        dead_t = island | (~self._f_only & ~self._keep_mask[self._t])

        def side_v(vv: np.ndarray, dead: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            if not ok:
                return np.full(len(vv), nan), np.full(len(vv), nan)
            return np.where(dead, nan, np.abs(vv)), np.where(dead, nan, np.angle(vv, deg=True))

        # per-element results (load convention for loads/storage, as pandapower)
        inj_on = np.zeros(len(self._inj_bus), dtype=bool)
        inj_on[np.flatnonzero(self._inj_on)] = True
        scale = np.abs(self._inj_w) * self._base_mva
        p_el = np.where(inj_on, self._inj_p * scale, 0.0)
        q_el = np.where(inj_on, self._inj_q * scale, 0.0)
        if not ok:
            p_el = p_el * nan
            q_el = q_el * nan
        for table, sl in (
            ("load", self._sl_load),
            ("sgen", self._sl_sgen),
            ("storage", self._sl_storage),
        ):
            net[f"res_{table}"] = pd.DataFrame(
                {"p_mw": p_el[sl], "q_mvar": q_el[sl]}, index=net[table].index
            )
        # bus injections in load convention: sum of the element powers at each bus
        p_bus = np.bincount(self._inj_bus, weights=-np.sign(self._inj_w) * p_el, minlength=self._nb)
        q_bus = np.bincount(self._inj_bus, weights=-np.sign(self._inj_w) * q_el, minlength=self._nb)
        shunt_s = np.abs(self._v) ** 2 * np.conj(self._ysh) * self._base_mva
        p_bus += np.where(self._keep_mask, shunt_s.real, 0.0)
        q_bus += np.where(self._keep_mask, shunt_s.imag, 0.0)
        p_bus[self._ref] -= res.ext_grid_p_mw[self._eg_pos]
        q_bus[self._ref] -= res.ext_grid_q_mvar[self._eg_pos]
        net["res_bus"] = pd.DataFrame(
            {
                "vm_pu": vm,
                "va_degree": va,
                "p_mw": np.where(np.isnan(vm), nan, p_bus[self._bus_rows]),
                "q_mvar": np.where(np.isnan(vm), nan, q_bus[self._bus_rows]),
            },
            index=net.bus.index,
        )
        lf, lt_ = self._line_rng
        vmf, vaf = side_v(v_side_f[lf:lt_], dead_f[lf:lt_])
        vmt, vat = side_v(v_side_t[lf:lt_], dead_t[lf:lt_])
        net["res_line"] = pd.DataFrame(
            {
                "p_from_mw": s_f[lf:lt_].real,
                "q_from_mvar": s_f[lf:lt_].imag,
                "p_to_mw": s_t[lf:lt_].real,
                "q_to_mvar": s_t[lf:lt_].imag,
                "pl_mw": (s_f + s_t)[lf:lt_].real,
                "ql_mvar": (s_f + s_t)[lf:lt_].imag,
                "i_from_ka": ka_f[lf:lt_],
                "i_to_ka": ka_t[lf:lt_],
                "i_ka": np.maximum(ka_f[lf:lt_], ka_t[lf:lt_]),
                "vm_from_pu": vmf,
                "va_from_degree": vaf,
                "vm_to_pu": vmt,
                "va_to_degree": vat,
                "loading_percent": np.where(island[lf:lt_], nan, res.line_loading_pct),
            },
            index=net.line.index,
        )
        tf, tt = self._trafo_rng
        vmh, vah = side_v(v_side_f[tf:tt], dead_f[tf:tt])
        vml, val = side_v(v_side_t[tf:tt], dead_t[tf:tt])
        net["res_trafo"] = pd.DataFrame(
            {
                "p_hv_mw": s_f[tf:tt].real,
                "q_hv_mvar": s_f[tf:tt].imag,
                "p_lv_mw": s_t[tf:tt].real,
                "q_lv_mvar": s_t[tf:tt].imag,
                "pl_mw": (s_f + s_t)[tf:tt].real,
                "ql_mvar": (s_f + s_t)[tf:tt].imag,
                "i_hv_ka": ka_f[tf:tt],
                "i_lv_ka": ka_t[tf:tt],
                "vm_hv_pu": vmh,
                "va_hv_degree": vah,
                "vm_lv_pu": vml,
                "va_lv_degree": val,
                "loading_percent": np.where(island[tf:tt], nan, res.trafo_loading_pct),
            },
            index=net.trafo.index,
        )
        net["res_ext_grid"] = pd.DataFrame(
            {"p_mw": res.ext_grid_p_mw, "q_mvar": res.ext_grid_q_mvar}, index=net.ext_grid.index
        )
