"""Backend-independent part of the power-flow layer: result type, solver API, factory.

Why this layer exists: an RL environment solves one power flow per step, tens of
thousands of times. ``pandapower.runpp`` rebuilds the whole model from pandas tables
on every call (tens of milliseconds); a compiled backend builds it once and only
pushes the few vectors that change. Both backends share this API so that the slow,
well-trusted pandapower path stays available as a reference and as a fallback for
network elements the fast backend does not model.

Conventions (pandapower's, so results can be compared one to one):

* injection vectors follow the row order of ``net.load`` / ``net.sgen`` /
  ``net.storage``; loads and storage are in the load convention (positive
  ``p_mw`` = consumption / charging), static generators in the generator
  convention (positive = generation). ``scaling`` and ``in_service`` of the
  tables are honoured exactly like pandapower does;
* result vectors follow the row order of ``net.bus`` / ``net.line`` /
  ``net.trafo`` / ``net.ext_grid``;
* a failed power flow never raises: it returns ``converged=False`` and every
  result array filled with NaN, so that a consumer that forgets to check
  ``converged`` still cannot mistake stale numbers for a solution.
"""

from __future__ import annotations

import importlib
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

__all__ = [
    "BACKENDS",
    "DEFAULT_BACKEND",
    "PowerFlowError",
    "PowerFlowResult",
    "PowerFlowSolver",
    "TABLE_SIGN",
    "make_solver",
]


#: Sign of each injection table's ``p_mw``/``q_mvar`` in the generator convention
#: (positive = power into the grid). pandapower books loads and storage as consumption
#: (positive = drawn from the grid), static generators as generation. The one
#: definition: the solvers compile their bus injections with it, and
#: ``GridModel.set_injection`` turns a device's generator-convention setpoint into its
#: table's convention with it.
TABLE_SIGN: dict[str, float] = {"load": -1.0, "sgen": 1.0, "storage": -1.0}


class PowerFlowError(RuntimeError):
    """The network (or a requested change) cannot be handled by the chosen backend.

    Raised at construction time for unsupported elements, and when a change is
    requested that the compiled model cannot represent (e.g. toggling a bus-bus
    switch). Never raised for a mere non-convergence, which is reported through
    :attr:`PowerFlowResult.converged`.
    """


@dataclass
class PowerFlowResult:
    """Outcome of one power flow, in pandapower units and element order.

    Isolated or out-of-service buses have NaN voltages (as in ``net.res_bus``).
    Lines and transformers that carry no current (out of service, open at both
    ends, or in an island without slack) report zero flow, current and loading
    (pandapower writes NaN loading for the island case; zero is used here so that
    e.g. ``max(line_loading_pct)`` stays meaningful after a switching action).
    When ``converged`` is False every float array is NaN.
    """

    converged: bool
    iterations: int
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
    losses_mw: float

    @classmethod
    def failed(
        cls, n_bus: int, n_line: int, n_trafo: int, n_ext_grid: int, iterations: int
    ) -> PowerFlowResult:
        """All-NaN result of a non-converged power flow (shapes still match the net)."""

        def nan(n: int) -> np.ndarray:
            return np.full(n, np.nan)

        return cls(
            converged=False,
            iterations=int(iterations),
            vm_pu=nan(n_bus),
            va_deg=nan(n_bus),
            line_loading_pct=nan(n_line),
            line_p_from_mw=nan(n_line),
            line_q_from_mvar=nan(n_line),
            line_pl_mw=nan(n_line),
            line_i_ka=nan(n_line),
            trafo_loading_pct=nan(n_trafo),
            trafo_p_hv_mw=nan(n_trafo),
            trafo_q_hv_mvar=nan(n_trafo),
            trafo_pl_mw=nan(n_trafo),
            ext_grid_p_mw=nan(n_ext_grid),
            ext_grid_q_mvar=nan(n_ext_grid),
            losses_mw=float("nan"),
        )

    def as_dict(self) -> dict[str, Any]:
        """Plain dict of the fields (handy for logging and for comparing backends)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _as_vector(name: str, values: Any, n: int, *, dtype: type = np.float64) -> np.ndarray:
    """Validate one input vector: right length, finite. Name it in the error.

    Why strict: a single NaN injection silently turns a whole Newton solve into
    NaN (or into a non-convergence that looks like a physics problem); failing at
    the boundary with the vector's name is far cheaper to debug.
    """
    arr = np.asarray(values, dtype=dtype)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{name}: expected a vector of length {n}, got shape {arr.shape}")
    # fast path (this runs every step): a NaN/inf anywhere makes the sum non-finite
    if not math.isfinite(arr.sum()) and not np.isfinite(arr).all():
        bad = np.flatnonzero(~np.isfinite(arr))
        raise ValueError(f"{name} contains NaN/inf at positions {bad[:10].tolist()}")
    return arr


class PowerFlowSolver(ABC):
    """Common API of the power-flow backends (see the module docstring for conventions).

    The solver owns ``net``: the pandapower backend writes the inputs into its tables
    on every solve, and :meth:`write_results_to_net` of any backend writes both the
    current inputs and the results. Pass ``copy.deepcopy(net)`` if the original tables
    must stay untouched (e.g. when they hold base profiles).
    """

    #: name used by :func:`make_solver`
    backend: str = ""

    def __init__(self, net: Any, *, max_iter: int = 20, tol: float = 1e-8) -> None:
        self.net = net
        self.max_iter = int(max_iter)
        self.tol = float(tol)
        self._n_bus = len(net.bus)
        self._n_line = len(net.line)
        self._n_trafo = len(net.trafo)
        self._n_ext_grid = len(net.ext_grid)
        self._n_switch = len(net.switch)
        # current input state, kept so that every backend can write it back to the net
        self._load_p = net.load["p_mw"].to_numpy(dtype=np.float64).copy()
        self._load_q = net.load["q_mvar"].to_numpy(dtype=np.float64).copy()
        self._sgen_p = net.sgen["p_mw"].to_numpy(dtype=np.float64).copy()
        self._sgen_q = net.sgen["q_mvar"].to_numpy(dtype=np.float64).copy()
        self._storage_p = net.storage["p_mw"].to_numpy(dtype=np.float64).copy()
        self._storage_q = net.storage["q_mvar"].to_numpy(dtype=np.float64).copy()
        trafo = net.trafo
        self._tap_min = _float_column(trafo, "tap_min")
        self._tap_max = _float_column(trafo, "tap_max")
        self._tap_pos = _float_column(trafo, "tap_pos")
        # a transformer is controllable when pandapower would actually use its tap position
        self._tappable = (
            np.isfinite(self._tap_min) & np.isfinite(self._tap_max) & np.isfinite(self._tap_pos)
        )
        self._switch_closed = net.switch["closed"].to_numpy(dtype=bool).copy()
        self._line_in_service = net.line["in_service"].to_numpy(dtype=bool).copy()
        self.last_result: PowerFlowResult | None = None

    # ------------------------------------------------------------------ inputs
    def set_loads(self, p_mw: np.ndarray, q_mvar: np.ndarray) -> None:
        """Active/reactive demand of every load (``net.load`` order, before ``scaling``)."""
        n = len(self._load_p)
        self._load_p = _as_vector("load p_mw", p_mw, n)
        self._load_q = _as_vector("load q_mvar", q_mvar, n)
        self._loads_changed()

    def set_sgens(self, p_mw: np.ndarray, q_mvar: np.ndarray) -> None:
        """Active/reactive output of every static generator (``net.sgen`` order)."""
        n = len(self._sgen_p)
        self._sgen_p = _as_vector("sgen p_mw", p_mw, n)
        self._sgen_q = _as_vector("sgen q_mvar", q_mvar, n)
        self._sgens_changed()

    def set_storages(self, p_mw: np.ndarray, q_mvar: np.ndarray) -> None:
        """Charging power of every storage unit (``net.storage`` order, positive = charging)."""
        n = len(self._storage_p)
        self._storage_p = _as_vector("storage p_mw", p_mw, n)
        self._storage_q = _as_vector("storage q_mvar", q_mvar, n)
        self._storages_changed()

    def set_injections(self, p_mw: np.ndarray, q_mvar: np.ndarray) -> None:
        """Every injection at once: ``[loads | sgens | storages]`` in table order, each in
        its table's convention (:data:`TABLE_SIGN`).

        The same as :meth:`set_loads` + :meth:`set_sgens` + :meth:`set_storages`, with one
        validation of the whole vector: what an environment calls once per step.
        """
        nl, ns = len(self._load_p), len(self._sgen_p)
        n = nl + ns + len(self._storage_p)
        try:
            p = _as_vector("injection p_mw", p_mw, n)
            q = _as_vector("injection q_mvar", q_mvar, n)
        except ValueError as exc:
            raise ValueError(f"{exc}{self._injection_rows(p_mw, q_mvar, n)}") from None
        self._load_p, self._sgen_p, self._storage_p = p[:nl], p[nl:nl + ns], p[nl + ns:]
        self._load_q, self._sgen_q, self._storage_q = q[:nl], q[nl:nl + ns], q[nl + ns:]
        self._loads_changed()
        if ns:
            self._sgens_changed()
        if n > nl + ns:
            self._storages_changed()

    def _injection_rows(self, p_mw: Any, q_mvar: Any, n: int) -> str:
        """Which table rows hold the NaN/inf entries of a combined injection vector."""
        bad = set()
        for values in (p_mw, q_mvar):
            arr = np.asarray(values, dtype=np.float64)
            if arr.shape == (n,):
                bad.update(np.flatnonzero(~np.isfinite(arr)).tolist())
        if not bad:
            return ""
        nl, ns = len(self._load_p), len(self._sgen_p)
        rows = {"load": [], "sgen": [], "storage": []}
        for i in sorted(bad):
            table, row = (("load", i) if i < nl else ("sgen", i - nl) if i < nl + ns
                          else ("storage", i - nl - ns))
            rows[table].append(row)
        return " (" + ", ".join(f"net.{t} rows {r[:10]}" for t, r in rows.items() if r) + ")"

    def set_trafo_taps(self, tap_pos: np.ndarray) -> None:
        """Tap positions for ``net.trafo`` (rounded, clipped to ``[tap_min, tap_max]``).

        Entries of transformers without a tap changer (NaN ``tap_min``/``tap_max``/
        ``tap_pos``) are ignored, so callers may pass a dense integer vector.
        """
        taps = _as_vector("trafo tap_pos", tap_pos, self._n_trafo)
        m = self._tappable
        # whole-vector ops (a regulator loop pushes taps several times a step); rows
        # without a tap changer have NaN bounds, come out NaN and are masked off
        new = np.minimum(np.maximum(np.rint(taps), self._tap_min), self._tap_max)
        changed = (new != self._tap_pos) & m
        if changed.any():
            self._tap_pos = np.where(m, new, self._tap_pos)
            self._taps_changed(changed)

    def set_trafo_tap(self, trafo: int, tap: float) -> None:
        """One transformer's tap (row ``trafo`` of ``net.trafo``), rounded and clipped.

        What a regulator round does: one or two changers move a step. Same rules as
        :meth:`set_trafo_taps` (a transformer without a tap changer ignores it), at
        the cost of a few Python operations instead of a dozen vector ones.
        """
        tap = float(tap)
        if not math.isfinite(tap):
            raise ValueError(f"trafo tap_pos contains NaN/inf at positions [{trafo}]")
        if not self._tappable[trafo]:
            return
        new = min(max(float(round(tap)), self._tap_min[trafo]), self._tap_max[trafo])
        if new != self._tap_pos[trafo]:
            self._tap_pos[trafo] = new
            self._tap_moved(trafo)

    def set_switches(self, closed: np.ndarray) -> None:
        """Open/closed state of every switch (``net.switch`` order)."""
        arr = np.asarray(closed)
        if arr.ndim != 1 or arr.shape[0] != self._n_switch:
            raise ValueError(
                f"switch closed: expected a vector of length {self._n_switch}, got shape {arr.shape}"
            )
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            raise ValueError("switch closed contains NaN")
        arr = arr.astype(bool)
        changed = arr != self._switch_closed
        if changed.any():
            self._switches_changed(arr, changed)
            self._switch_closed = arr.copy()

    def set_line_in_service(self, in_service: np.ndarray) -> None:
        """In-service flag of every line (``net.line`` order).

        Networks that model switches as short lines (the IEEE feeders of
        :mod:`powergrid.networks`) toggle them through this call.
        """
        arr = np.asarray(in_service)
        if arr.ndim != 1 or arr.shape[0] != self._n_line:
            raise ValueError(
                f"line in_service: expected a vector of length {self._n_line}, got shape {arr.shape}"
            )
        arr = arr.astype(bool)
        changed = arr != self._line_in_service
        if changed.any():
            self._line_in_service = arr.copy()
            self._lines_changed(changed)

    # hooks for backends that track what changed (the pandapower one does not need them)
    def _loads_changed(self) -> None:  # noqa: B027 - optional hook
        pass

    def _sgens_changed(self) -> None:  # noqa: B027 - optional hook
        pass

    def _storages_changed(self) -> None:  # noqa: B027 - optional hook
        pass

    def _taps_changed(self, changed: np.ndarray) -> None:  # noqa: B027 - optional hook
        pass

    def _tap_moved(self, trafo: int) -> None:
        """One tap moved (:meth:`set_trafo_tap`); backends with a cheaper update override it."""
        changed = np.zeros(self._n_trafo, dtype=bool)
        changed[trafo] = True
        self._taps_changed(changed)

    def _switches_changed(self, closed: np.ndarray, changed: np.ndarray) -> None:  # noqa: B027
        pass

    def _lines_changed(self, changed: np.ndarray) -> None:  # noqa: B027 - optional hook
        pass

    # ----------------------------------------------------------------- solving
    @abstractmethod
    def solve(self) -> PowerFlowResult:
        """Run one power flow with the current inputs. Never raises on non-convergence."""

    def solve_voltages(self) -> tuple[bool, int, np.ndarray]:
        """Solve and return ``(converged, iterations, vm_pu)``; backends may skip flows."""
        res = self.solve()
        return res.converged, res.iterations, res.vm_pu

    def complete_result(self) -> PowerFlowResult:
        """Full result of the last :meth:`solve_voltages` call."""
        return self.last_result

    def set_initial_voltages(self, vm_pu: np.ndarray, va_deg: np.ndarray) -> None:
        """Start value for cold starts (first solve, and the retry after a failed warm start).

        Weak feeders with near-ideal regulators do not converge from a flat 1 pu start;
        a tap-aware no-load profile (``powergrid.networks.initial_voltages``) does.
        Arrays follow ``net.bus.index`` order.
        """
        vm = _as_vector("vm_pu", vm_pu, len(self.net.bus))
        va = _as_vector("va_deg", va_deg, len(self.net.bus))
        self._set_initial_voltages(vm, va)

    def _set_initial_voltages(self, vm: np.ndarray, va: np.ndarray) -> None:  # noqa: B027
        """Backend hook; the default ignores the hint."""

    @abstractmethod
    def write_results_to_net(self) -> None:
        """Fill ``net.res_*`` (and the input columns) for inspection; not for the hot path."""

    def _failed(self, iterations: int) -> PowerFlowResult:
        return PowerFlowResult.failed(
            self._n_bus, self._n_line, self._n_trafo, self._n_ext_grid, iterations
        )

    def _write_inputs_to_net(self) -> None:
        """Copy the current injections, taps and switch states into the pandapower tables."""
        net = self.net
        if len(self._load_p):
            net.load["p_mw"] = self._load_p
            net.load["q_mvar"] = self._load_q
        if len(self._sgen_p):
            net.sgen["p_mw"] = self._sgen_p
            net.sgen["q_mvar"] = self._sgen_q
        if len(self._storage_p):
            net.storage["p_mw"] = self._storage_p
            net.storage["q_mvar"] = self._storage_q
        if self._tappable.any():
            net.trafo["tap_pos"] = self._tap_pos
        if self._n_switch:
            net.switch["closed"] = self._switch_closed
        if self._n_line:
            net.line["in_service"] = self._line_in_service


def _float_column(df: Any, column: str) -> np.ndarray:
    """Column as float array, NaN where missing (pandapower leaves optional columns out)."""
    if column not in df.columns:
        return np.full(len(df), np.nan)
    return df[column].to_numpy(dtype=np.float64, na_value=np.nan).copy()


#: backend name -> "module:class" (imported lazily so that the light backend does not
#: pay for the other and vice versa)
BACKENDS: dict[str, str] = {
    "lightsim2grid": "powergrid.powerflow.lightsim:LightSimSolver",
    "pandapower": "powergrid.powerflow.reference:PandapowerSolver",
    "sweep": "powergrid.powerflow.sweep:SweepSolver",
}
#: the backend of every env and setup unless configured otherwise. Why the sweep: on
#: the shipped (radial) feeders it is exact to 1e-10 pu where Newton stops at a 1e-8
#: mismatch, about three times faster per env step, and the same algorithm as the
#: vectorized env's batched power flow; where a network is meshed it hands over to
#: the lightsim2grid Newton solver, so it converges wherever that backend does
DEFAULT_BACKEND = "sweep"
#: convenience names
ALIASES: dict[str, str] = {"fast": DEFAULT_BACKEND, "reference": "pandapower"}


def make_solver(net: Any, backend: str = DEFAULT_BACKEND, **kwargs: Any) -> PowerFlowSolver:
    """Build a power-flow solver for ``net``.

    ``backend``: ``"sweep"`` (the default, alias ``"fast"``: the compiled model
    solved by radial sweeps, Newton where the network is meshed), ``"lightsim2grid"``
    (the compiled model, Newton solves) or ``"pandapower"`` (``pp.runpp`` on every
    solve; alias ``"reference"``). Extra keyword arguments (``max_iter``, ``tol``) go
    to the solver.
    """
    key = ALIASES.get(backend, backend)
    if key not in BACKENDS:
        choices = sorted(set(BACKENDS) | set(ALIASES))
        raise ValueError(f"unknown power-flow backend {backend!r}; choose one of {choices}")
    module_name, cls_name = BACKENDS[key].split(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    return cls(net, **kwargs)
