"""Default backend: exact backward/forward sweeps on radial networks, Newton otherwise.

Why: a single env step solves ~3 power flows (the regulators re-solve after each tap
move), and on the shipped feeders one compiled Newton call costs ~40 us plus the
admittance update after every tap move, about a third of the step. The
distribution networks shipped here are radial, and on a tree the batched sweep of
:mod:`powergrid.powerflow.batched` solves one copy in a few microseconds with no
matrix to rebuild: a tap move only selects another precomputed two-port. This
backend is that solver with one copy, behind the :class:`PowerFlowSolver` API.

It is the same model as the ``lightsim2grid`` backend -- the sweep reads
:meth:`LightSimSolver.export_compiled` (pandapower's admittances, tap formulas,
injection weights, switch handling) -- so results agree with it and with
``pp.runpp`` to the solvers' tolerances (the sweep stops at a 1e-10 pu voltage
update, a Newton run at a 1e-8 mismatch: they differ by ~1e-9 pu).

The compiled Newton solver is kept beside the sweep and takes over where the
sweep cannot go:

* a meshed energised network (after a switching action, or as built): Newton
  solves until the topology is radial again;
* a sweep that converges from neither its warm nor its cold start: Newton tries
  too, so this backend converges wherever the ``lightsim2grid`` one does;
* :meth:`write_results_to_net`: the tables of the last solution are written by the
  Newton solver's code (auxiliary buses of half-open branches and all).

Iterations are sweeps (about one decimal digit each on these feeders), or Newton
steps where Newton solved.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import PowerFlowError, PowerFlowResult, PowerFlowSolver
from .batched import BatchedPowerFlow
from .lightsim import LightSimSolver

__all__ = ["SweepSolver"]


class SweepSolver(PowerFlowSolver):
    """Single-network power flow by radial sweeps, with Newton where sweeps cannot solve.

    ``max_iter``/``tol`` are the Newton settings (as for ``lightsim2grid``);
    ``sweep_max_iter``/``sweep_tol`` those of each sweep attempt (largest voltage
    update, p.u.). See the module docstring for when Newton solves instead.
    """

    backend = "sweep"

    def __init__(self, net: Any, *, max_iter: int = 20, tol: float = 1e-8,
                 sweep_max_iter: int = 100, sweep_tol: float = 1e-10) -> None:
        super().__init__(net, max_iter=max_iter, tol=tol)
        self._newton = LightSimSolver(net, max_iter=max_iter, tol=tol)
        self._sweep_max_iter, self._sweep_tol = int(sweep_max_iter), float(sweep_tol)
        self._newton_inputs_stale = False  # the Newton solver lacks the latest injections
        self._newton_taps_stale = False
        self._one = np.ones(1, dtype=bool)
        self._pending_newton = False  # which solver produced the last solve_voltages
        self._pf: BatchedPowerFlow | None = None
        self._fractional_taps = False
        m = self._tappable
        # rounded taps clipped to a fractional range end would not be integer steps
        self._integer_tap_range = bool(np.all(self._tap_min[m] == np.rint(self._tap_min[m]))
                                       and np.all(self._tap_max[m] == np.rint(self._tap_max[m])))
        self._compile_sweep()

    # ------------------------------------------------------------------ model
    def _compile_sweep(self) -> None:
        """One-copy sweep on the Newton solver's current compiled model; None if meshed."""
        model = self._newton.export_compiled()
        try:
            pf = BatchedPowerFlow(self.net, 1, max_iter=self._sweep_max_iter,
                                  tol=self._sweep_tol, parallel=False, compiled=model)
        except PowerFlowError:  # meshed (or disconnected) energised network: Newton solves
            self._pf = None
            return
        pf._load_p[0], pf._load_q[0] = self._load_p, self._load_q
        pf._sgen_p[0], pf._sgen_q[0] = self._sgen_p, self._sgen_q
        pf._storage_p[0], pf._storage_q[0] = self._storage_p, self._storage_q
        self._pf = pf
        # inputs are only ever written into pf's arrays in place (see the hooks below),
        # so the kernel's argument tuple is built once per compilation
        self._sweep_args = pf._kernel_args(self._one)
        self._sync_taps()

    @property
    def radial(self) -> bool:
        """Whether the energised network is radial, i.e. the sweeps solve it."""
        return self._pf is not None

    @property
    def solved_by(self) -> str:
        """``"sweep"`` or ``"newton"``: which solver produced the last solution."""
        return "newton" if self._pending_newton else "sweep"

    # ------------------------------------------------------------------ input hooks
    def _loads_changed(self) -> None:
        self._newton_inputs_stale = True
        if self._pf is not None:
            self._pf._load_p[0], self._pf._load_q[0] = self._load_p, self._load_q

    def _sgens_changed(self) -> None:
        self._newton_inputs_stale = True
        if self._pf is not None:
            self._pf._sgen_p[0], self._pf._sgen_q[0] = self._sgen_p, self._sgen_q

    def _storages_changed(self) -> None:
        self._newton_inputs_stale = True
        if self._pf is not None:
            self._pf._storage_p[0], self._pf._storage_q[0] = self._storage_p, self._storage_q

    def _taps_changed(self, changed: np.ndarray) -> None:
        self._newton_taps_stale = True
        if not self._incremental_taps():
            self._sync_taps()
            return
        tapk = self._pf._tapk[0]
        for j in np.flatnonzero(changed).tolist():
            tapk[j] = int(self._tap_pos[j] - self._tap_min[j])

    def _tap_moved(self, trafo: int) -> None:
        self._newton_taps_stale = True
        if not self._incremental_taps():
            self._sync_taps()
            return
        self._pf._tapk[0, trafo] = int(self._tap_pos[trafo] - self._tap_min[trafo])

    def _incremental_taps(self) -> bool:
        """Whether a tap move only needs its own sweep state updated (the usual case: the
        setters round every position, so all of them are integer steps)."""
        return self._pf is not None and not self._fractional_taps and self._integer_tap_range

    def _sync_taps(self) -> None:
        """The sweep's tap states from the current positions.

        The sweep knows integer positions only (one precomputed two-port each); a net
        built with fractional ones (published per-phase averages) is solved by Newton
        until :meth:`set_trafo_taps` puts the changers on integer steps.
        """
        pf = self._pf
        m = self._tappable
        if pf is None or not m.any():
            self._fractional_taps = False
            return
        taps = self._tap_pos[m]
        self._fractional_taps = bool(np.any(taps != np.rint(taps)))
        if not self._fractional_taps:
            pf._tapk[0, m] = (taps - self._tap_min[m]).astype(np.int64)

    def _switches_changed(self, closed: np.ndarray, changed: np.ndarray) -> None:
        self._newton.set_switches(closed)  # raises for bus-bus switches, as that backend does
        self._compile_sweep()

    def _lines_changed(self, changed: np.ndarray) -> None:
        self._newton.set_line_in_service(self._line_in_service)
        self._compile_sweep()

    def _set_initial_voltages(self, vm: np.ndarray, va: np.ndarray) -> None:
        # the sweep's cold start is the no-load profile of the current taps; Newton's
        # is this hint
        self._newton._set_initial_voltages(vm, va)

    def _sync_newton(self) -> None:
        """Give the Newton solver the current inputs (only when it is about to be used)."""
        s = self._newton
        if self._newton_inputs_stale:
            s.set_loads(self._load_p, self._load_q)
            s.set_sgens(self._sgen_p, self._sgen_q)
            s.set_storages(self._storage_p, self._storage_q)
            self._newton_inputs_stale = False
        if self._newton_taps_stale:
            s.set_trafo_taps(np.where(self._tappable, self._tap_pos, 0.0))
            self._newton_taps_stale = False

    # ------------------------------------------------------------------ solving
    def solve(self) -> PowerFlowResult:
        self.solve_voltages()
        return self.complete_result()

    def solve_voltages(self) -> tuple[bool, int, np.ndarray]:
        pf = self._pf
        if pf is not None and not self._fractional_taps:
            pf._solve_kernel(*self._sweep_args)
            it = int(pf._it[0])
            if pf._ok[0]:
                self._pending_newton = False
                vm = np.abs(pf._v[0, pf._bus_pos])
                if pf._bus_dead.size:
                    vm[pf._bus_dead] = np.nan
                return True, it, vm
        else:
            it = 0
        self._sync_newton()
        self._pending_newton = True
        ok, it_newton, vm = self._newton.solve_voltages()
        return ok, it + it_newton, vm

    def complete_result(self) -> PowerFlowResult:
        if self._pending_newton:
            self.last_result = self._newton.complete_result()
            return self.last_result
        pf = self._pf
        flows = pf._flows(self._one)
        values = {name: arr[0] for name, arr in flows.items()}
        values["losses_mw"] = float(values["losses_mw"])
        if pf._bus_dead.size:
            values["vm_pu"][pf._bus_dead] = np.nan
            values["va_deg"][pf._bus_dead] = np.nan
        self.last_result = PowerFlowResult(converged=True, iterations=int(pf._it[0]), **values)
        return self.last_result

    # ------------------------------------------------------------------ inspection
    def write_results_to_net(self) -> None:
        """``net.res_*`` of the last solution, written by the Newton solver's code.

        The Newton solver gets the current inputs and the sweep's voltages as its state
        (one solve updates its admittances to the current taps; its own answer is then
        replaced by the sweep's), so the tables show exactly :attr:`last_result`.
        """
        newton = self._newton
        if self.last_result is None:
            self.solve()
        self._sync_newton()
        if not self._pending_newton:
            newton.solve()  # admittances and injections of the current inputs
            pf = self._pf
            keep = newton._keep
            newton._v[keep] = pf._v[0, pf._pos_of_ppc[keep]]
        newton.last_result = self.last_result
        newton.write_results_to_net()
