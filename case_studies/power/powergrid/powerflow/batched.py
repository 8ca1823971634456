"""Batched power flow: N independent copies of one radial network, solved as arrays.

Why this exists: the vectorized environment steps N copies of a setup at once and
each step runs ~3 power flows (the regulator loop re-solves after tap moves). At
20,000 env steps/s that leaves well under 15 us per copy per solve -- below the
~60 us of one compiled Newton call plus its Python around it. Measured
alternatives on the default network at N=256 (``bench/bench_batched_powerflow.py``,
2 shared cores): power-grid-model's batch calculation accepts per-scenario taps but
costs ~30-50 us per scenario (Newton or iterative current, threaded or not);
lightsim2grid's batched computers (``TimeSerie``, ``InjectionSweep``,
``ScenarioSweep``, ``ContingencyAnalysis``) vary injections and outages per row but
not tap positions (~13-25 us per row even then); a Python loop over one compiled
solver costs ~125 us per copy once taps differ between copies. This module: ~3-7 us
per copy.

How: the distribution networks shipped here are radial once out-of-service lines
are dropped, so each copy is solved by backward/forward sweeps (the Z-bus fixed
point of a tree) with the exact two-port equations of every branch; a transformer's
tap only selects which precomputed two-port the sweep uses for that copy. The loops
are compiled (:mod:`powergrid.powerflow._sweep_kernels`) and run in parallel over
copies. The network model is *the same compiled data* as the single solver
(:meth:`LightSimSolver.export_compiled`: pandapower's admittances, its tap formulas,
injection weights, switch handling), so copy ``i`` is the single solver's solution
for that copy's inputs: within ~1e-11 pu of its Newton run to a 1e-10 mismatch; its
default settings (1e-8 mismatch) stop up to ~5e-9 pu short of the exact solution.

Conventions are those of :mod:`powergrid.powerflow.base`, with a leading copy axis:
inputs ``[N, n_load]`` / ``[N, n_sgen]`` / ``[N, n_storage]`` in ``net.load`` /
``net.sgen`` / ``net.storage`` row order (load convention for loads and storage,
before ``scaling``), taps ``[N, n_trafo]`` in ``net.trafo`` order; results
``[N, n_bus]`` etc. in pandapower row order. A copy that does not converge gets
``converged=False`` and NaN in every result of that row; the other rows are
unaffected, and that copy warm-starts from its last good solution next time.

Limits: the topology (switches, line in-service flags) is fixed when the solver is
built; meshed networks raise :class:`PowerFlowError` (use one
:func:`~powergrid.powerflow.make_solver` per copy there). ``iterations`` counts
sweeps, which converge linearly (about one decimal digit per sweep on these
feeders), not Newton steps.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, fields
from typing import Any

import numba
import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import breadth_first_order

from . import _sweep_kernels as kernels
from .base import PowerFlowError, PowerFlowResult
from .lightsim import LightSimSolver

__all__ = ["BatchedPowerFlow", "BatchedPowerFlowResult"]

@dataclass
class BatchedPowerFlowResult:
    """Outcome of one batched solve; every array has the copy axis first.

    Same fields, units and element order as :class:`PowerFlowResult`; rows of
    non-converged copies are NaN. ``iterations`` counts sweeps (0 for copies that
    were not solved in this call).
    """

    converged: np.ndarray
    iterations: np.ndarray
    vm_pu: np.ndarray
    va_deg: np.ndarray
    line_loading_pct: np.ndarray
    line_p_from_mw: np.ndarray
    line_q_from_mvar: np.ndarray
    line_pl_mw: np.ndarray
    line_i_ka: np.ndarray
    trafo_loading_pct: np.ndarray
    trafo_p_hv_mw: np.ndarray
    trafo_q_hv_mvar: np.ndarray
    trafo_pl_mw: np.ndarray
    ext_grid_p_mw: np.ndarray
    ext_grid_q_mvar: np.ndarray
    losses_mw: np.ndarray

    def copy_result(self, i: int) -> PowerFlowResult:
        """Row ``i`` as a single-network :class:`PowerFlowResult` (for comparisons)."""
        values = {f.name: getattr(self, f.name)[i] for f in fields(self)}
        values["converged"] = bool(values["converged"])
        values["iterations"] = int(values["iterations"])
        values["losses_mw"] = float(values["losses_mw"])
        return PowerFlowResult(**values)


class BatchedPowerFlow:
    """N copies of one radial network with per-copy injections and tap positions.

    >>> pf = BatchedPowerFlow(net, n_copies=256)
    >>> pf.set_loads(load_p, load_q)          # [256, n_load] each
    >>> pf.set_trafo_taps(taps)               # [256, n_trafo] integers
    >>> ok, it, vm = pf.solve_voltages()      # regulator loop: voltages only
    >>> res = pf.complete_result()            # branch flows of that solution

    ``tol`` is the largest voltage update (p.u.) at which a copy counts as converged
    (1e-10 keeps every copy within ~1e-10 pu of the exact solution); ``max_iter``
    bounds the sweeps of each attempt (warm start, then a cold start from the
    copy's no-load profile). ``parallel`` runs copies on all numba threads; pass
    False when many processes share the cores.
    """

    def __init__(
        self,
        net: Any,
        n_copies: int,
        *,
        max_iter: int = 100,
        tol: float = 1e-10,
        parallel: bool = True,
        compiled: dict[str, Any] | None = None,
    ) -> None:
        if int(n_copies) != n_copies or n_copies < 1:
            raise ValueError(f"n_copies must be a positive integer, got {n_copies!r}")
        self.n_copies = int(n_copies)
        self.max_iter = int(max_iter)
        self.tol = float(tol)
        self.parallel = bool(parallel)
        self._solve_kernel = kernels.solve_parallel if parallel else kernels.solve_serial
        self._results_kernel = kernels.results_parallel if parallel else kernels.results_serial
        self.n_bus, self.n_line, self.n_trafo = len(net.bus), len(net.line), len(net.trafo)
        self.n_load, self.n_sgen, self.n_storage = len(net.load), len(net.sgen), len(net.storage)
        # the single solver compiles the model (pandapower's own admittances); we read it.
        # ``compiled``: that export, from a solver the caller already built on ``net``
        # (the single-network sweep solver), so pandapower does not compile it twice
        model = compiled if compiled is not None else (
            LightSimSolver(copy.deepcopy(net)).export_compiled())
        self._build_tree(model)
        self._build_states(model)
        self._build_injections(model)
        self._build_outputs(model)
        self._init_state(net, model)

    # ================================================================ compilation
    def _build_tree(self, m: dict[str, Any]) -> None:
        """Breadth-first order of the energised buses from the slack; one edge per bus."""
        keep, red = m["keep"], m["red"]
        n_red = keep.size
        rows = np.flatnonzero(m["full_act"])
        rf, rt = red[m["f"][rows]], red[m["t"][rows]]
        if rows.size != n_red - 1:
            raise PowerFlowError(
                f"batched power flow: the energised network has {n_red} buses and {rows.size} "
                f"closed branches, so it is meshed (or has parallel branches); only radial "
                "networks are supported -- use one make_solver(...) per copy instead"
            )
        g = sparse.csr_matrix((np.ones(2 * rows.size), (np.r_[rf, rt], np.r_[rt, rf])),
                              shape=(n_red, n_red))
        ref = int(red[m["ref"]])
        order, pred = breadth_first_order(g, ref, directed=False, return_predecessors=True)
        if order.size != n_red:
            raise PowerFlowError("batched power flow: energised network is not connected")
        pos = np.empty(n_red, dtype=np.int64)
        pos[order] = np.arange(n_red)
        edge_of_pair = {}
        for k, (a, b) in enumerate(zip(rf.tolist(), rt.tolist())):
            edge_of_pair[(a, b)] = (int(rows[k]), True)  # parent is the branch's from end
            edge_of_pair[(b, a)] = (int(rows[k]), False)
        self._n_pos = n_red
        self._par = np.zeros(n_red, dtype=np.int64)
        self._edge_row = np.zeros(n_red, dtype=np.int64)
        self._edge_up_is_from = np.zeros(n_red, dtype=bool)
        for i in range(1, n_red):
            child = int(order[i])
            parent = int(pred[child])
            self._par[i] = pos[parent]
            self._edge_row[i], self._edge_up_is_from[i] = edge_of_pair[(parent, child)]
        # position of every ppc bus (-1: not energised)
        self._pos_of_ppc = np.where(red >= 0, pos[np.maximum(red, 0)], -1)
        self._v_ref = complex(m["v_ref"])
        self._ysh = m["ysh"][keep][order].astype(np.complex128)

    def _build_states(self, m: dict[str, Any]) -> None:
        """Two-port of every branch row in every state (tap position), flattened."""
        nbr = m["f"].size
        tf, tt = m["trafo_rng"]
        tappable = m["tappable"]
        table = m["tap_table"]
        span = table[0].shape[0] if table is not None else 1
        row_trafo = np.full(nbr, -1, dtype=np.int64)
        for j in np.flatnonzero(tappable):
            row_trafo[tf + j] = j
        n_states = np.where(row_trafo >= 0, span, 1)
        row_off = np.concatenate([[0], np.cumsum(n_states)[:-1]]).astype(np.int64)
        total = int(n_states.sum())
        yff = np.empty(total, np.complex128)
        yft = np.empty(total, np.complex128)
        ytf = np.empty(total, np.complex128)
        ytt = np.empty(total, np.complex128)
        row_of_state = np.repeat(np.arange(nbr), n_states)
        fixed = row_trafo[row_of_state] < 0
        yff[fixed], yft[fixed] = m["yff"][row_of_state[fixed]], m["yft"][row_of_state[fixed]]
        ytf[fixed], ytt[fixed] = m["ytf"][row_of_state[fixed]], m["ytt"][row_of_state[fixed]]
        for r in np.flatnonzero(row_trafo >= 0):
            j, sl = row_trafo[r], slice(row_off[r], row_off[r] + span)
            t_ff, t_ft, t_tf, t_tt = table
            yff[sl], yft[sl], ytf[sl], ytt[sl] = t_ff[:, j], t_ft[:, j], t_tf[:, j], t_tt[:, j]
        fa = m["full_act"][row_of_state]
        fo = m["f_only"][row_of_state]
        to = m["t_only"][row_of_state]
        with np.errstate(divide="ignore", invalid="ignore"):
            kron_f = yff - yft * ytf / ytt  # open at the "to" end, seen from "from"
            kron_t = ytt - ytf * yft / yff
        zero = np.zeros(total, np.complex128)
        self._eff = np.where(fa, yff, np.where(fo, kron_f, zero))
        self._ett = np.where(fa, ytt, np.where(to, kron_t, zero))
        self._eft = np.where(fa, yft, zero)
        self._etf = np.where(fa, ytf, zero)
        # tree coefficients in the parent -> child orientation of each edge
        up_from = np.zeros(nbr, dtype=bool)
        up_from[self._edge_row[1:]] = self._edge_up_is_from[1:]
        uf = up_from[row_of_state]
        y_uu, y_dd = np.where(uf, yff, ytt), np.where(uf, ytt, yff)
        y_ud, y_du = np.where(uf, yft, ytf), np.where(uf, ytf, yft)
        with np.errstate(divide="ignore", invalid="ignore"):
            self._ca = np.where(fa, y_uu - y_ud * y_du / y_dd, zero)
            self._cb = np.where(fa, y_ud / y_dd, zero)
            self._cc = np.where(fa, 1.0 / y_dd, zero)
            self._cd = np.where(fa, -y_du / y_dd, zero)
        tree_states = fa & ~np.isfinite(self._cc)
        if tree_states.any():
            bad = sorted(set(row_of_state[tree_states].tolist()))
            raise PowerFlowError(f"batched power flow: branch rows {bad[:10]} have no admittance")
        self._row_off, self._row_trafo = row_off, row_trafo
        # half-open branches: their Kron-reduced admittance is a shunt at the closed end
        ho = np.flatnonzero(m["f_only"] | m["t_only"])
        f_side = m["f_only"][ho]
        ho_bus = np.where(f_side, m["f"][ho], m["t"][ho])
        self._ho_pos = self._pos_of_ppc[ho_bus].astype(np.int64)
        self._ho_row = ho.astype(np.int64)
        self._ho_val = np.where(m["f_only"][row_of_state], self._eff, self._ett)
        self._f_pos = self._pos_of_ppc[m["f"]].astype(np.int64)
        self._t_pos = self._pos_of_ppc[m["t"]].astype(np.int64)
        self._tap_min = m["tap_min"]
        self._tap_max = m["tap_max"]
        self._tappable = tappable
        self._nbr = nbr

    def _build_injections(self, m: dict[str, Any]) -> None:
        pos = self._pos_of_ppc[m["inj_bus"]].astype(np.int64)
        w = m["inj_w"].astype(np.complex128)
        self._inj = {
            name: (pos[m[f"sl_{name}"]].copy(), w[m[f"sl_{name}"]].copy())
            for name in ("load", "sgen", "storage")
        }

    def _build_outputs(self, m: dict[str, Any]) -> None:
        nbr = self._nbr
        bus_red = m["red"][m["bus_rows"]]
        self._bus_pos = np.where(bus_red >= 0, self._pos_of_ppc[m["bus_rows"]], 0)
        self._bus_dead = np.flatnonzero(bus_red < 0)
        self._ibase_f = m["ibase_ft"][:nbr]
        self._ibase_t = m["ibase_ft"][nbr:]
        self._line_rng, self._trafo_rng = m["line_rng"], m["trafo_rng"]
        self._line_k, self._line_no_rating = m["line_k"], m["line_no_rating"]
        self._line_unrated = np.zeros(self.n_line, dtype=np.bool_)
        self._line_unrated[self._line_no_rating] = True
        self._trafo_k_hv, self._trafo_k_lv = m["trafo_k_hv"], m["trafo_k_lv"]
        self._base_mva = float(m["base_mva"])
        self._eg_pos, self._n_ext_grid = int(m["eg_pos"]), int(m["n_ext_grid"])

    def _init_state(self, net: Any, m: dict[str, Any]) -> None:
        n = self.n_copies

        def tile(df: Any, col: str) -> np.ndarray:
            return np.tile(df[col].to_numpy(dtype=np.float64), (n, 1))

        self._load_p, self._load_q = tile(net.load, "p_mw"), tile(net.load, "q_mvar")
        self._sgen_p, self._sgen_q = tile(net.sgen, "p_mw"), tile(net.sgen, "q_mvar")
        self._storage_p, self._storage_q = tile(net.storage, "p_mw"), tile(net.storage, "q_mvar")
        taps = np.nan_to_num(m["tap_pos"], nan=0.0)
        self._tapk = np.zeros((n, self.n_trafo), dtype=np.int64)
        self.set_trafo_taps(np.tile(taps, (n, 1)))
        # warm start: the compile-time solution (the net's own inputs), in sweep order
        v0 = m["v"][m["keep"]]
        order_red = np.empty(self._n_pos, dtype=np.int64)
        order_red[self._pos_of_ppc[m["keep"]]] = np.arange(self._n_pos)
        self._v_init = v0[order_red].astype(np.complex128)
        self._v_init[0] = self._v_ref
        self._v = np.tile(self._v_init, (n, 1))
        # no-load profile of the taps each warm start was solved with (0: unknown)
        self._noload = np.zeros((n, self._n_pos), dtype=np.complex128)
        self._ok = np.zeros(n, dtype=bool)  # not solved yet: results are NaN until solved
        self._it = np.zeros(n, dtype=np.int64)
        self._s_root = np.zeros(n, dtype=np.complex128)

    # ================================================================ inputs
    def set_loads(self, p_mw: Any, q_mvar: Any) -> None:
        """Demand of every load, ``[N, n_load]`` each (``net.load`` order, before scaling)."""
        self._load_p = self._batch("load p_mw", p_mw, self.n_load)
        self._load_q = self._batch("load q_mvar", q_mvar, self.n_load)

    def set_sgens(self, p_mw: Any, q_mvar: Any) -> None:
        """Output of every static generator, ``[N, n_sgen]`` each (generator convention)."""
        self._sgen_p = self._batch("sgen p_mw", p_mw, self.n_sgen)
        self._sgen_q = self._batch("sgen q_mvar", q_mvar, self.n_sgen)

    def set_storages(self, p_mw: Any, q_mvar: Any) -> None:
        """Charging power of every storage unit, ``[N, n_storage]`` each (positive = charging)."""
        self._storage_p = self._batch("storage p_mw", p_mw, self.n_storage)
        self._storage_q = self._batch("storage q_mvar", q_mvar, self.n_storage)

    def set_trafo_taps(self, tap_pos: Any) -> None:
        """Tap positions ``[N, n_trafo]`` (rounded, clipped to ``[tap_min, tap_max]``).

        Columns of transformers without a tap changer are ignored, so a dense integer
        array (as :class:`GridModel` keeps) can be passed as is.
        """
        taps = self._batch("trafo tap_pos", tap_pos, self.n_trafo)
        m = self._tappable
        if m.any():
            t = np.clip(np.rint(taps[:, m]), self._tap_min[m], self._tap_max[m])
            self._tapk[:, m] = (t - self._tap_min[m]).astype(np.int64)

    @property
    def tap_pos(self) -> np.ndarray:
        """Tap positions in use, ``[N, n_trafo]`` (NaN for transformers without taps)."""
        out = np.full((self.n_copies, self.n_trafo), np.nan)
        m = self._tappable
        out[:, m] = self._tapk[:, m] + self._tap_min[m]
        return out

    def reset_warm_start(self, copies: Any = None) -> None:
        """Start the next solve of ``copies`` (indices or bool mask; None = all) afresh.

        Used when a copy's episode is reset, so that its next solution cannot depend
        on the previous episode (the start is the compile-time solution).
        """
        idx = self._select("copies", copies)
        self._v[idx] = self._v_init
        self._noload[idx] = 0.0

    def _batch(self, name: str, values: Any, n_cols: int) -> np.ndarray:
        """Validate one input array: shape ``[N, n_cols]``, finite; name it in the error."""
        arr = np.asarray(values, dtype=np.float64)
        shape = (self.n_copies, n_cols)
        if arr.shape != shape:
            raise ValueError(
                f"{name}: expected an array of shape {shape} (copies x elements), got {arr.shape}"
            )
        if not np.isfinite(arr.sum()) and not np.isfinite(arr).all():
            rows, cols = np.nonzero(~np.isfinite(arr))
            where = list(zip(rows[:5].tolist(), cols[:5].tolist()))
            raise ValueError(f"{name} contains NaN/inf at (copy, element) {where}")
        return np.ascontiguousarray(arr)

    def _select(self, name: str, copies: Any) -> np.ndarray:
        """Bool mask over copies from None / a bool mask / indices."""
        if copies is None:
            return np.ones(self.n_copies, dtype=bool)
        arr = np.asarray(copies)
        if arr.dtype == bool:
            if arr.shape != (self.n_copies,):
                raise ValueError(f"{name}: bool mask must have shape ({self.n_copies},), "
                                 f"got {arr.shape}")
            return arr
        mask = np.zeros(self.n_copies, dtype=bool)
        idx = arr.astype(np.int64).ravel()
        if idx.size and (idx.min() < -self.n_copies or idx.max() >= self.n_copies):
            raise ValueError(f"{name}: indices must lie in [0, {self.n_copies}), got {idx.tolist()}")
        mask[idx] = True
        return mask

    # ================================================================ solving
    def solve_voltages(self, copies: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sweep the selected copies; return ``(converged [N], iterations [N], vm_pu [N, n_bus])``.

        ``copies`` (indices or bool mask) restricts the solve to copies whose inputs
        changed -- e.g. only those whose taps the regulator moved. The others keep
        their last solution (and report 0 iterations), which stays exact only if
        their inputs did not change since.
        """
        active = self._select("copies", copies)
        self._it[~active] = 0
        self._solve_kernel(*self._kernel_args(active))
        vm = np.abs(self._v[:, self._bus_pos])
        self._nan_rows(vm, bus=True)
        return self._ok.copy(), self._it.copy(), vm

    def _kernel_args(self, active: np.ndarray) -> tuple[Any, ...]:
        """The solve kernel's arguments: the state arrays themselves (written in place).

        Valid until an input array is replaced (``set_loads`` etc. install new arrays);
        a caller that only writes into them in place may keep the tuple: the
        single-network solver (:mod:`powergrid.powerflow.sweep`) does, so a regulator
        round does not rebuild 36 arguments.
        """
        li, si, ti = self._inj["load"], self._inj["sgen"], self._inj["storage"]
        return (
            active,
            self._load_p, self._load_q, li[0], li[1],
            self._sgen_p, self._sgen_q, si[0], si[1],
            self._storage_p, self._storage_q, ti[0], ti[1],
            self._tapk, self._par, self._edge_row, self._row_off, self._row_trafo,
            self._ca, self._cb, self._cc, self._cd,
            self._ysh, self._ho_pos, self._ho_row, self._ho_val, self._v_ref,
            self._v, self._noload, self.max_iter, self.tol,
            self._ok, self._it, self._s_root, numba.get_num_threads() if self.parallel else 1,
        )  # fmt: skip

    def solve(self, copies: Any = None) -> BatchedPowerFlowResult:
        """Voltages and branch flows of the selected copies (see :meth:`solve_voltages`)."""
        self.solve_voltages(copies)
        return self.complete_result()

    def complete_result(self) -> BatchedPowerFlowResult:
        """Full result (every copy) of the current solutions, without re-solving.

        Copies not solved yet (or whose last solve failed) are NaN with ``converged=False``.
        """
        ok = self._ok
        fields_ = self._flows(ok)
        out = BatchedPowerFlowResult(converged=ok.copy(), iterations=self._it.copy(), **fields_)
        for name, arr in fields_.items():
            if arr.dtype.kind == "f":
                self._nan_rows(arr, bus=name in ("vm_pu", "va_deg"))
        return out

    def _flows(self, active: np.ndarray) -> dict[str, np.ndarray]:
        """Every result field but ``converged``/``iterations`` from the current voltages.

        Rows of copies not in ``active`` are left unfilled (callers NaN them). Shared
        with the single-network solver, which calls it with one copy, so both build
        their results with the same operations.
        """
        n = self.n_copies
        nl, nt = self.n_line, self.n_trafo
        out_line = np.empty((5, n, nl))
        out_trafo = np.empty((4, n, nt))
        out_eg = np.empty((2, n, self._n_ext_grid))
        losses = np.empty(n)
        lf, lt_ = self._line_rng
        tf, tt = self._trafo_rng
        self._results_kernel(
            active, self._v, self._tapk, self._f_pos, self._t_pos, self._row_off, self._row_trafo,
            self._eff, self._eft, self._etf, self._ett,
            self._ibase_f, self._ibase_t, self._base_mva, self._ysh[0], self._v_ref, self._s_root,
            lf, lt_, tf, tt, self._line_k, self._line_unrated,
            self._trafo_k_hv, self._trafo_k_lv, self._eg_pos,
            out_line, out_trafo, out_eg, losses,
        )  # fmt: skip
        vb = self._v[:, self._bus_pos]
        return {
            "vm_pu": np.abs(vb),
            "va_deg": np.angle(vb, deg=True),
            "line_loading_pct": out_line[0],
            "line_p_from_mw": out_line[1],
            "line_q_from_mvar": out_line[2],
            "line_pl_mw": out_line[3],
            "line_i_ka": out_line[4],
            "trafo_loading_pct": out_trafo[0],
            "trafo_p_hv_mw": out_trafo[1],
            "trafo_q_hv_mvar": out_trafo[2],
            "trafo_pl_mw": out_trafo[3],
            "ext_grid_p_mw": out_eg[0],
            "ext_grid_q_mvar": out_eg[1],
            "losses_mw": losses,
        }

    def _nan_rows(self, arr: np.ndarray, *, bus: bool = False) -> None:
        """NaN for de-energised buses (``bus`` arrays) and for every row of a failed copy."""
        if bus and self._bus_dead.size:
            arr[:, self._bus_dead] = np.nan
        if not self._ok.all():
            arr[~self._ok] = np.nan
