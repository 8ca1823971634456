"""Reference backend: ``pandapower.runpp`` on every solve.

Slow (tens of milliseconds per call) but it is pandapower itself, so it supports
every element pandapower supports and is the yardstick the fast backend is tested
against. The options below are the ones the fast backend reproduces.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandapower as pp

from .base import PowerFlowResult, PowerFlowSolver

#: pandapower falls back to pure Python (and warns on every call) without numba
_HAS_NUMBA = importlib.util.find_spec("numba") is not None

#: runpp options shared with the fast backend's compilation (see lightsim.py)
RUNPP_OPTIONS: dict[str, Any] = {
    "algorithm": "nr",
    "calculate_voltage_angles": True,
    "trafo_model": "t",
    "trafo_loading": "current",
    "enforce_q_lims": False,
    "check_connectivity": True,
    "numba": _HAS_NUMBA,
}


@contextmanager
def _ignoring_user_pf_options(net: Any) -> Iterator[None]:
    """Run ``runpp`` with this solver's own options only.

    ``net.user_pf_options`` overrides every runpp argument left at its default (an
    explicit ``init="auto"`` included), and a synced ``env.net`` carries
    ``init="results"`` for interactive use (``GridModel.sync_net``); combined with
    ``init_vm_pu`` arrays pandapower would reject the call.
    """
    saved = net.get("user_pf_options")
    net["user_pf_options"] = {}
    try:
        yield
    finally:
        net["user_pf_options"] = saved if saved is not None else {}


class PandapowerSolver(PowerFlowSolver):
    """Writes the input vectors into ``net`` and calls ``pp.runpp``.

    Warm-starts from the previous results (``init="results"``) and retries once
    from pandapower's default initialisation when that fails, like the fast backend.
    """

    backend = "pandapower"

    def __init__(self, net: Any, *, max_iter: int = 20, tol: float = 1e-8) -> None:
        super().__init__(net, max_iter=max_iter, tol=tol)
        self._warm = False
        self._init: tuple[np.ndarray, np.ndarray] | None = None

    def _set_initial_voltages(self, vm: np.ndarray, va: np.ndarray) -> None:
        self._init = (vm, va)

    def solve(self) -> PowerFlowResult:
        net = self.net
        self._write_inputs_to_net()
        cold = "given" if self._init is not None else "auto"
        inits = ("results", cold) if self._warm else (cold,)
        iterations = 0
        for init in inits:
            try:
                extra = {}
                if init == "given":
                    init, extra = "auto", {"init_vm_pu": self._init[0], "init_va_degree": self._init[1]}
                with _ignoring_user_pf_options(net):
                    pp.runpp(
                        net,
                        init=init,
                        **extra,
                        max_iteration=self.max_iter,
                        tolerance_mva=self.tol,
                        **RUNPP_OPTIONS,
                    )
            except pp.LoadflowNotConverged:
                iterations += int(net._ppc.get("iterations", self.max_iter) or self.max_iter)
                continue
            iterations += int(net._ppc.get("iterations", 0) or 0)
            self._warm = True
            self.last_result = self._read_results(iterations)
            return self.last_result
        self._warm = False
        self.last_result = self._failed(iterations)
        return self.last_result

    def _read_results(self, iterations: int) -> PowerFlowResult:
        net = self.net
        rl, rt, re = net.res_line, net.res_trafo, net.res_ext_grid

        def col(df: Any, name: str, n: int) -> np.ndarray:
            # pandapower leaves i_ka / loading of in-service branches inside a de-energised
            # island at NaN (and out-of-service ones at 0); no current flows in either
            # case, so both backends report 0 and keep NaN for "no solution" only.
            if not n:
                return np.zeros(0)
            return np.nan_to_num(df[name].to_numpy(dtype=np.float64), nan=0.0)

        losses = float(np.nansum(rl["pl_mw"].to_numpy())) if self._n_line else 0.0
        if self._n_trafo:
            losses += float(np.nansum(rt["pl_mw"].to_numpy()))
        return PowerFlowResult(
            converged=True,
            iterations=iterations,
            vm_pu=net.res_bus["vm_pu"].to_numpy(dtype=np.float64).copy(),
            va_deg=net.res_bus["va_degree"].to_numpy(dtype=np.float64).copy(),
            line_loading_pct=col(rl, "loading_percent", self._n_line),
            line_p_from_mw=col(rl, "p_from_mw", self._n_line),
            line_q_from_mvar=col(rl, "q_from_mvar", self._n_line),
            line_pl_mw=col(rl, "pl_mw", self._n_line),
            line_i_ka=col(rl, "i_ka", self._n_line),
            trafo_loading_pct=col(rt, "loading_percent", self._n_trafo),
            trafo_p_hv_mw=col(rt, "p_hv_mw", self._n_trafo),
            trafo_q_hv_mvar=col(rt, "q_hv_mvar", self._n_trafo),
            trafo_pl_mw=col(rt, "pl_mw", self._n_trafo),
            ext_grid_p_mw=col(re, "p_mw", self._n_ext_grid),
            ext_grid_q_mvar=col(re, "q_mvar", self._n_ext_grid),
            losses_mw=losses,
        )

    def write_results_to_net(self) -> None:
        """Nothing to do: ``runpp`` already wrote ``net.res_*`` (and the inputs)."""
        self._write_inputs_to_net()
