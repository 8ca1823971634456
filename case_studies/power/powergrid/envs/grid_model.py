"""GridModel: one network, one compiled solver, and the injection vectors that change.

All grid agents of an environment share one electrical network, so there is one
power flow per step, not one per agent. Agents write their devices' setpoints and
this hour's loads into the vectors here (by position, no pandas in the hot loop);
``solve()`` pushes them into the compiled solver in one vectorised call each.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class GridModel:
    def __init__(self, net: Any, backend: str = "lightsim2grid", **solver_kwargs: Any) -> None:
        from powergrid.powerflow import make_solver

        self.net = net
        self.backend = backend
        self.solver = make_solver(net, backend=backend, **solver_kwargs)
        from powergrid.networks import initial_voltages

        self.solver.set_initial_voltages(*initial_voltages(net))
        self.base_load_p = net.load.p_mw.to_numpy(dtype=np.float64).copy()
        self.base_load_q = net.load.q_mvar.to_numpy(dtype=np.float64).copy()
        self.load_p = self.base_load_p.copy()
        self.load_q = self.base_load_q.copy()
        self.sgen_p = net.sgen.p_mw.to_numpy(dtype=np.float64).copy()
        self.sgen_q = net.sgen.q_mvar.to_numpy(dtype=np.float64).copy()
        self.storage_p = net.storage.p_mw.to_numpy(dtype=np.float64).copy()
        self.storage_q = net.storage.q_mvar.to_numpy(dtype=np.float64).copy()
        taps = net.trafo.tap_pos.to_numpy(dtype=np.float64) if len(net.trafo) else np.zeros(0)
        self.initial_taps = np.nan_to_num(taps, nan=0.0).astype(np.int64)
        self.tap_pos = self.initial_taps.copy()
        # push once: published regulator taps can be fractional (per-phase averages) and
        # a real tap changer sits on an integer step
        self._taps_dirty = bool(len(self.tap_pos))
        self._taps_since_init = False
        self.result = None
        # positional lookups: pandapower index -> row position
        self.bus_pos = {int(b): i for i, b in enumerate(net.bus.index)}
        self.load_pos = {int(b): i for i, b in enumerate(net.load.index)}
        self.sgen_pos = {int(b): i for i, b in enumerate(net.sgen.index)}
        self.storage_pos = {int(b): i for i, b in enumerate(net.storage.index)}
        self.trafo_pos = {int(b): i for i, b in enumerate(net.trafo.index)}
        self.line_pos = {int(b): i for i, b in enumerate(net.line.index)}

    def set_tap(self, trafo_row: int, tap: int) -> None:
        if self.tap_pos[trafo_row] != tap:
            self.tap_pos[trafo_row] = tap
            self._taps_dirty = True

    def reset(self) -> None:
        self.load_p[:] = self.base_load_p
        self.load_q[:] = self.base_load_q
        self.sgen_p[:] = 0.0
        self.sgen_q[:] = 0.0
        self.storage_p[:] = 0.0
        self.storage_q[:] = 0.0
        if len(self.tap_pos) and np.any(self.tap_pos != self.initial_taps):
            self.tap_pos[:] = self.initial_taps
            self._taps_dirty = True
        self.result = None

    def _push_inputs(self) -> None:
        s = self.solver
        s.set_loads(self.load_p, self.load_q)
        if self.sgen_p.size:
            s.set_sgens(self.sgen_p, self.sgen_q)
        if self.storage_p.size:
            s.set_storages(self.storage_p, self.storage_q)
        if self._taps_dirty:
            s.set_trafo_taps(self.tap_pos)
            self._taps_dirty = False
            self._taps_since_init = True

    def solve(self):
        """Full power flow with the current inputs."""
        self.solve_voltages()
        self.result = self.solver.complete_result()
        return self.result

    def solve_voltages(self) -> tuple[bool, np.ndarray]:
        """Power flow without branch results (for control loops); see :meth:`solve`."""
        self._push_inputs()
        ok, it, vm = self.solver.solve_voltages()
        if not ok and self._taps_since_init:
            # the cold-start profile was computed for other tap positions; a stale one
            # fails on weak feeders, so rebuild it for the current taps and retry once
            self._refresh_initial_voltages()
            ok, _, vm = self.solver.solve_voltages()
        return ok, vm

    def complete(self):
        """Full result of the last :meth:`solve_voltages`."""
        self.result = self.solver.complete_result()
        return self.result

    def _refresh_initial_voltages(self) -> None:
        from powergrid.networks import initial_voltages

        t = self.net.trafo
        saved = t.tap_pos.copy()
        has_tap = t.tap_pos.notna().to_numpy()
        t.loc[has_tap, "tap_pos"] = self.tap_pos[has_tap]
        try:
            self.solver.set_initial_voltages(*initial_voltages(self.net))
        finally:
            t["tap_pos"] = saved
        self._taps_since_init = False
