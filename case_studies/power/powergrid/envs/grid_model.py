"""GridModel: one network, one compiled solver, and the injections that change.

All grid agents of an environment share one electrical network, so there is one
power flow per step, not one per agent. GridModel owns that step's inputs:

* the injection buffers (``load_p``/``load_q``, ``sgen_*``, ``storage_*``, in the
  row order and sign convention of pandapower's tables) and the tap positions.
  Agents write into them by position (no pandas in the hot loop): loads directly,
  device setpoints through :meth:`set_injection`, which takes the devices'
  generator convention and applies each table's sign (:data:`TABLE_SIGN`, the one
  definition, shared with the solvers' compilation);
* the only writer to the solver: :meth:`solve` pushes the injections once per
  step through the solver's validating setters (the one validation of what a step
  solves), then runs the power flow with the regulators acting as controllers
  (each round only pushes the taps they moved), then builds the full result once.

The pandapower tables of ``net`` are therefore *not* touched by the step loop:
they keep the values the network was built with. :meth:`sync_net` writes the state
of the last power flow back into them (injections, taps, ``res_*``) when someone
wants to look at it with pandapower; environments call it lazily from their
``net`` property, so the step loop pays nothing.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pandas as pd

from powergrid.powerflow.base import DEFAULT_BACKEND, TABLE_SIGN

#: input columns a solver writes back (``PowerFlowSolver._write_inputs_to_net``)
SYNCED_INPUTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("load", ("p_mw", "q_mvar")),
    ("sgen", ("p_mw", "q_mvar")),
    ("storage", ("p_mw", "q_mvar")),
    ("trafo", ("tap_pos",)),
    ("switch", ("closed",)),
    ("line", ("in_service",)),
)


class GridModel:
    def __init__(self, net: Any, backend: str = DEFAULT_BACKEND, **solver_kwargs: Any) -> None:
        from powergrid.powerflow import make_solver
        from powergrid.powerflow.base import ALIASES

        self.net = net
        self.backend = backend
        # the reference backend runs runpp on its net and warm-starts from that net's
        # res_bus; on a private copy, whatever a user does with ``net`` (a runpp of their
        # own rewrites res_bus) cannot change the next step's solution
        private = ALIASES.get(backend, backend) == "pandapower"
        self.solver = make_solver(copy.deepcopy(net) if private else net, backend=backend,
                                  **solver_kwargs)
        from powergrid.networks import initial_voltages

        self.solver.set_initial_voltages(*initial_voltages(net))
        self.base_load_p = net.load.p_mw.to_numpy(dtype=np.float64).copy()
        self.base_load_q = net.load.q_mvar.to_numpy(dtype=np.float64).copy()
        # one buffer per quantity, [loads | sgens | storages] as the solver takes it; the
        # per-table vectors are views into it (write into them, never rebind them)
        tables = [net[t][col].to_numpy(dtype=np.float64) for t in ("load", "sgen", "storage")
                  for col in ("p_mw", "q_mvar")]
        self.inj_p = np.concatenate(tables[0::2])
        self.inj_q = np.concatenate(tables[1::2])
        nl, ns = len(net.load), len(net.sgen)
        self.load_p, self.sgen_p, self.storage_p = np.split(self.inj_p, [nl, nl + ns])
        self.load_q, self.sgen_q, self.storage_q = np.split(self.inj_q, [nl, nl + ns])
        taps = net.trafo.tap_pos.to_numpy(dtype=np.float64) if len(net.trafo) else np.zeros(0)
        self.initial_taps = np.nan_to_num(taps, nan=0.0).astype(np.int64)
        self.tap_pos = self.initial_taps.copy()
        # push once: published regulator taps can be fractional (per-phase averages) and
        # a real tap changer sits on an integer step
        self._taps_dirty = bool(len(self.tap_pos))
        self._moved_taps: set[int] = set()  # rows set_tap moved since the last push
        self._taps_since_init = False
        self.result = None
        #: step-voltage regulators acting inside :meth:`solve` (a ``RegulatorController``;
        #: None: taps move only when an agent sets them)
        self.regulators: Any = None
        self._synced_result = None  # solver result last written into net (see sync_net)
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
            self._moved_taps.add(trafo_row)

    def set_injection(self, table: str, row: int, p_mw: float, q_mvar: float) -> None:
        """A device's setpoint (generator convention: positive = into the grid).

        ``table`` is ``"sgen"`` or ``"storage"``; the value is stored in that table's
        own convention (:data:`~powergrid.powerflow.base.TABLE_SIGN`), which is what
        the solver and ``net`` expect.
        """
        sign = TABLE_SIGN[table]
        if table == "sgen":
            self.sgen_p[row], self.sgen_q[row] = sign * p_mw, sign * q_mvar
        else:
            self.storage_p[row], self.storage_q[row] = sign * p_mw, sign * q_mvar

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

    def _push_injections(self) -> None:
        """This step's injections into the solver: once per :meth:`solve`, validated there."""
        self.solver.set_injections(self.inj_p, self.inj_q)

    def _push_taps(self) -> None:
        """Taps into the solver: all after a reset, else only the ones that moved."""
        if self._taps_dirty:
            self.solver.set_trafo_taps(self.tap_pos)
        elif self._moved_taps:
            for row in sorted(self._moved_taps):
                self.solver.set_trafo_tap(row, self.tap_pos[row])
        else:
            return
        self._taps_dirty = False
        self._moved_taps.clear()
        self._taps_since_init = True

    def solve(self):
        """The step's power flow: injections in once, regulators acting, one full result.

        Each regulator round moves taps from the last voltages and re-solves with only
        the taps pushed (the injections do not change within a step); the branch
        flows are computed once, for the final taps.
        """
        self._push_injections()
        ok, vm = self._solve_voltages()
        reg = self.regulators
        if reg is not None and reg.active:
            for _ in range(reg.settings.max_iter):
                if not ok or not reg.control(vm):
                    break
                ok, vm = self._solve_voltages()
        self.result = self.solver.complete_result()
        return self.result

    def _solve_voltages(self) -> tuple[bool, np.ndarray]:
        """Voltages only (for the control rounds), with the current taps."""
        self._push_taps()
        ok, _, vm = self.solver.solve_voltages()
        if not ok and self._taps_since_init:
            # the cold-start profile was computed for other tap positions; a stale one
            # fails on weak feeders, so rebuild it for the current taps and retry once
            self._refresh_initial_voltages()
            ok, _, vm = self.solver.solve_voltages()
        return ok, vm

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

    def sync_net(self) -> None:
        """Make ``net`` show the last power flow: its inputs, tap positions and ``res_*``.

        Why: the step loop works on the vectors here and never writes the pandapower
        tables, so without this ``net`` would keep the nominal loads and published
        (fractional) taps and ``pp.runpp(net)`` would solve a different grid. Cheap to
        call repeatedly: nothing is written until the solver has produced a new result.

        What is written: ``load``/``sgen``/``storage`` ``p_mw``/``q_mvar`` and
        ``trafo.tap_pos`` (the integer positions the solver used; transformers without
        a tap changer keep NaN), switch and line states, and ``res_bus``/``res_line``/
        ``res_trafo``/``res_ext_grid``/``res_load``/... from the last solve (NaN if it
        did not converge). Shunts and the ext_grid set-point are compiled from the
        tables and never changed afterwards, so they already agree.

        ``net.user_pf_options["init"] = "results"`` is set after a converged solve:
        ``pp.runpp(net)`` then starts from this solution. Its default start (flat
        magnitudes, DC angles) fails on weak feeders whose regulators sit far from
        neutral (the IEEE 34 feeder at light load with reverse flow from the
        microgrids), while the solution itself is a perfectly good operating point.
        An explicit ``init=`` argument still wins.
        """
        result = self.solver.last_result
        if result is None or result is self._synced_result:
            return  # never solved (writing results would trigger a solve) or unchanged
        self.solver.write_results_to_net()
        if self.solver.net is not self.net:
            self._copy_state(self.solver.net, converged=result.converged)
        options = self.net.get("user_pf_options")
        if not isinstance(options, dict):
            options = self.net["user_pf_options"] = {}
        if result.converged:
            options["init"] = "results"
        else:  # NaN results are no start; pandapower's own init is the better try
            options.pop("init", None)
        self._synced_result = result

    def _copy_state(self, src: Any, converged: bool) -> None:
        """Inputs and results of the solver's private net into ``net`` (reference backend).

        After a failed runpp pandapower's tables hold the previous hour's results; they
        become NaN here, as the fast backend writes them, so stale numbers never pass
        for the current state.
        """
        net = self.net
        for table, columns in SYNCED_INPUTS:
            if len(net[table]):
                for column in (c for c in columns if c in src[table]):
                    net[table][column] = src[table][column].to_numpy(copy=True)
        for key in list(src.keys()):
            if key.startswith("res_") and isinstance(src[key], pd.DataFrame) and len(src[key]):
                net[key] = src[key].copy() if converged else src[key].astype(float) * np.nan
