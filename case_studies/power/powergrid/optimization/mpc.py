"""Model-predictive control (``mpc``): the oracle's DistFlow model, re-planned every
hour with forecasts an operator really has.

Why: the oracle knows the whole day in advance, which no controller does. MPC is
what an operator with an optimiser would deploy: every hour it plans the next
``horizon`` hours (24 by default) from forecasts and the measured state (battery
SOC), applies the first hour, and plans again an hour later.

* **Model**: exactly the oracle's (:func:`.model.build_model`: DistFlow with the SOC
  relaxation, regulators as continuous ideal regulators, the same voltage margin,
  the same devices and metering, export credited at ``sell_price_ratio``), built
  **once** with the day's data as cvxpy Parameters (DPP, :class:`.model.ModelInputs`),
  so each hourly re-solve only updates numbers and reuses the compiled problem.
  Clarabel is called on the compiled problem directly (:mod:`.compiled`), which
  skips cvxpy's per-solve copying and unpacking. Limits are
  soft (penalised slacks), so a bad forecast never leaves the controller without a
  plan. As in the oracle, a share of the unpaid feeder losses is priced (a
  parameter too): by default all of it (:data:`MPC_LOSS_WEIGHTS`), so each hour is
  one solve. ``loss_weights=`` gives a search instead, raised in turn until the cone
  is tight; it starts at the last step's weight within an episode, and at the
  smallest one in its first step, so episodes stay independent of each other. The
  oracle's slower polishing steps (CCP, battery direction fixing) are left out.
* **Forecasts** (``forecast=``) of loads, renewable availability and price:

  - ``"persistence"`` (default): each hour as the same hour yesterday;
  - ``"seasonal"``: each hour as the mean of the same hour over the last
    ``seasonal_days`` (7) days;
  - ``"perfect"``: the real data (the oracle's information; a consistency check).

  Hours before the split's first hour wrap to its end, as the environment's own
  data does.
* **End of the episode**: the environment values no energy left in a battery when
  the episode ends, and neither does the oracle. With ``episode_aware=True`` the
  batteries therefore start the first hour past the episode's end from any energy
  within their limits (``ModelInputs.energy_reset``), so nothing the plan stores
  carries over. The hours past the end keep their forecast prices. They are then a
  separate plan that cannot pull energy out of the episode. (Pricing them at 0
  instead gives the same economics, but it leaves a degenerate problem that took
  Clarabel up to 39 iterations instead of 21 at the end of an episode.)
  ``episode_aware=False`` plans a plain rolling 24 h.
* **Plans trimmed at the episode's end** (``trim_past_end=True``, with
  ``episode_aware``): since the hours past the end are a separate plan, they cannot
  change the first hour's action, so solving them is wasted work. Each hour the
  controller solves a program that stops at the episode's end: 12.5 h on average
  over a 24 h episode instead of 24, and the solve time grows faster than the
  length. Programs are kept for every ``trim_step`` hours (1 by default: the exact
  length) and built and compiled the first time an episode needs them, outside the
  timed plan (about 0.2-1.2 s each; 24 of them add some 20 s to a controller's
  first episode). Measured on 2026-12-03 with the (0.1, 1.0) loss-weight search,
  test days 0-4 of ieee34_ieee13: exact lengths 71 ms per step against 107 ms with
  quarters of the horizon (``trim_step=6``). (Both solve the same problem for the
  episode's hours. Where its optimum is not unique, e.g. a battery indifferent
  between two hours, the first-hour action can differ, so replayed costs can
  differ slightly. A loss-weight search judges the cone's tightness on the
  episode's hours only, which is what the replay sees, and that is why a trimmed
  plan could stop at a lower weight than the full one: :data:`MPC_LOSS_WEIGHTS`.)

``MPCController.solve_ms`` holds the wall time of every hourly plan (forecast into the
parameters, every solve of the loss-weight search, values read back). ``plans`` adds,
per hour, the number of solves, Clarabel's iterations and its own time.
"""

from __future__ import annotations

import logging
import time
import warnings
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import cvxpy as cp
import numpy as np

from heron.core.policies import Policy
from powergrid.agents.device_agent import Setpoint, capabilities_of
from powergrid.envs.networked_grid_env import ExogenousWindow
from powergrid.optimization.compiled import CompiledProblem
from powergrid.optimization.exactness import is_exact
from powergrid.optimization.metering import metering_values
from powergrid.optimization.model import (
    ModelInputs,
    build_model,
    default_voltage_margin,
    load_to_buses,
    tap_positions,
)
from powergrid.optimization.network import RadialNetwork
from powergrid.optimization.scenario import UnsupportedSetupError, make_env, scenario_from_env
from powergrid.optimization.solvers import (
    DEFAULT_MPC_SOLVER_OPTIONS,
    SOLVED,
    SolverOptions,
    pick_solver,
    resolve_solver_options,
)
from powergrid.optimization.solving import LOSS_WEIGHTS

log = logging.getLogger(__name__)

FORECASTS = ("persistence", "seasonal", "perfect")
#: "direct": the compiled problem re-solved by Clarabel itself (:mod:`.compiled`);
#: "cvxpy": ``Problem.solve`` on the same compiled problem (the reference the bench
#: times the direct path against)
BACKENDS = ("direct", "cvxpy")
SEASONAL_DAYS = 7
#: the MPC's shares of the unpaid feeder losses, tried in turn until the plan's cone is
#: tight. By default only the oracle's largest (:data:`.solving.LOSS_WEIGHTS`): on test
#: days 0-4 of ieee34_ieee13, with perfect and persistence forecasts, every full 24 h
#: episode reached it by its second step anyway, while a plan trimmed at the
#: episode's end could stay exact at 0.1 and so price the losses ten times lower than
#: the full plan (4 $ apart on a 12 h episode). With 1.0 alone trimmed and full plans
#: agree within 0.001 $ and each step is one solve; the replayed costs of those days
#: moved by at most 1.6 $/day against the (0.1, 1.0) search. The search stays an option
#: (``loss_weights=``)
MPC_LOSS_WEIGHTS = (LOSS_WEIGHTS[-1],)
#: solves within this many ms count towards the MPC's per-step target (bench)
TARGET_STEP_MS = 100.0


#: one day of exogenous data, hour by hour, as the environment sets it
_Day = ExogenousWindow


class _History:
    """The split's data by absolute hour, read off a private copy of the environment.

    Why a private environment: the data must be what the environment uses (profiles,
    load scales, DSO load), and reading it must not move the environment being
    controlled. Days are read once and cached.
    """

    def __init__(self, env: Any) -> None:
        self.env = env
        self.hours = len(env.dataset[env.split]["load"])
        self.days = self.hours // 24
        self._cache: dict[int, _Day] = {}

    def day(self, d: int) -> _Day:
        d %= self.days
        if d not in self._cache:
            self._cache[d] = self.env.exogenous_window(d * 24, 24)
        return self._cache[d]

    def hours_(self, start: int, n: int) -> _Day:
        """Hours ``start .. start + n - 1`` (absolute, may be negative: wraps)."""
        days = range(start // 24, (start + n - 1) // 24 + 1)
        parts = [self.day(d) for d in days]
        lo = start - days[0] * 24

        def cat(get: Any) -> np.ndarray:
            return np.concatenate([get(p) for p in parts], axis=0)[lo: lo + n]

        keys = parts[0].available.keys()
        return _Day(price=cat(lambda p: p.price), load_p=cat(lambda p: p.load_p),
                    load_q=cat(lambda p: p.load_q),
                    available={k: cat(lambda p, k=k: p.available[k]) for k in keys})


def _mean(days: list[_Day]) -> _Day:
    return _Day(price=np.mean([d.price for d in days], axis=0),
                load_p=np.mean([d.load_p for d in days], axis=0),
                load_q=np.mean([d.load_q for d in days], axis=0),
                available={k: np.mean([d.available[k] for d in days], axis=0)
                           for k in days[0].available})


@dataclass
class StepPlan:
    """The plan made at one hour: first-hour setpoints per agent and device, and what
    making it took (``solve_ms``: parameters set, every solve of the loss-weight search,
    values read back)."""

    hour: int
    status: str
    loss_weight: float
    solve_ms: float
    solves: int = 0
    iterations: int = 0  # Clarabel's, summed over the solves
    solver_ms: float = 0.0  # Clarabel's own solve_time, summed over the solves
    #: this process's CPU time for the plan: unlike solve_ms it hardly grows when other
    #: processes share the cores (the solver runs on one thread)
    cpu_ms: float = 0.0
    hours: int = 0  # the hours planned (shorter than the horizon near the episode's end)
    setpoints: dict[str, dict[str, tuple[float, float, float]]] = field(default_factory=dict)


@dataclass
class _Program:
    """One compiled plan of ``hours`` hours: its scenario, parameters, model, problem
    and (``direct`` backend) the compiled Clarabel problem."""

    hours: int
    sc: Any
    inputs: ModelInputs
    model: Any
    problem: cp.Problem
    compiled: CompiledProblem | None = None


def plan_lengths(horizon: int, trim: bool, step: int = 1) -> tuple[int, ...]:
    """The plan lengths an episode-aware MPC may compile: every ``step`` hours up to
    ``horizon`` when trimming at the episode's end (module docstring), else the
    horizon only."""
    if step < 1:
        raise ValueError(f"trim_step={step}: plan lengths step by at least 1 hour.")
    if not trim:
        return (horizon,)
    return tuple(sorted({*range(step, horizon, step), horizon}))


class MPCController:
    """Receding-horizon DistFlow dispatch of every microgrid of ``env`` (one plan a step).

    Args:
        env: the environment being controlled (its current day and battery states are
            read at each step; it is never stepped or reset here).
        horizon: hours planned each step.
        forecast: ``"persistence"``, ``"seasonal"`` or ``"perfect"`` (module docstring).
        seasonal_days: days averaged by the seasonal forecast.
        loss_weights: shares of the unpaid feeder losses to price, tried in turn until
            the relaxation is exact (:data:`MPC_LOSS_WEIGHTS`).
        episode_aware: let no energy carry past the episode's end (module docstring).
        trim_past_end: with ``episode_aware``, solve only up to the episode's end
            (the shortest of :func:`plan_lengths` that reaches it; module docstring).
        trim_step: the granularity of those lengths in hours (1: exact; larger
            keeps fewer programs and compiles faster, but plans more hours).
        backend: ``"direct"`` (default: Clarabel called on the compiled problem,
            :mod:`.compiled`) or ``"cvxpy"`` (``Problem.solve``, the slower reference).
        solver_options: Clarabel settings as ``{"CLARABEL": {option: value}}``,
            merged key by key into :data:`.solvers.DEFAULT_MPC_SOLVER_OPTIONS`
            (``clarabel.DefaultSettings`` names, e.g. ``max_iter``, ``tol_feas``), for
            both backends. The MPC solves with Clarabel only, so another solver's
            name is refused. ``None``: the defaults.
    """

    def __init__(self, env: Any, *, horizon: int = 24, forecast: str = "persistence",
                 seasonal_days: int = SEASONAL_DAYS,
                 loss_weights: tuple[float, ...] = MPC_LOSS_WEIGHTS,
                 episode_aware: bool = True, trim_past_end: bool = True,
                 trim_step: int = 1, backend: str = "direct",
                 solver_options: SolverOptions | None = None) -> None:
        if forecast not in FORECASTS:
            raise ValueError(f"forecast {forecast!r}: choose from {FORECASTS}.")
        if backend not in BACKENDS:
            raise ValueError(f"backend {backend!r}: choose from {BACKENDS}.")
        if horizon < 1 or seasonal_days < 1:
            raise ValueError("horizon and seasonal_days must be >= 1.")
        self.env, self.horizon, self.forecast = env, int(horizon), forecast
        self.seasonal_days, self.loss_weights = int(seasonal_days), tuple(loss_weights)
        self.episode_aware, self.backend = episode_aware, backend
        self.trim_past_end = bool(trim_past_end and episode_aware)
        #: plan lengths this controller may solve (the full horizon is built up front)
        self.lengths = plan_lengths(self.horizon, self.trim_past_end, int(trim_step))
        self.solver = pick_solver(False)
        other = sorted(str(k) for k in (solver_options or {}) if str(k).upper() != self.solver)
        if other:
            raise ValueError(f"solver_options for {other}: the MPC solves with {self.solver} "
                             f"only; pass {{{self.solver!r}: {{...}}}}.")
        #: the resolved settings, by solver (only ``self.solver``'s are used)
        self.solver_options = resolve_solver_options(solver_options,
                                                     defaults=DEFAULT_MPC_SOLVER_OPTIONS)
        self.plans: list[StepPlan] = []
        self.solve_ms: list[float] = []
        t0 = time.perf_counter()
        shadow = make_env(env.env_config, env.split, self.horizon)
        self.history = _History(shadow)
        self._programs: dict[int, _Program] = {}
        self._activate(self.horizon)
        self.build_s = time.perf_counter() - t0
        self._cache: dict[int, dict[str, np.ndarray]] = {}

    # ------------------------------------------------------------------ the model
    # The latest plan's program (the full horizon's until a shorter one is used).
    @property
    def sc(self) -> Any:
        return self._active.sc

    @property
    def inputs(self) -> ModelInputs:
        return self._active.inputs

    @property
    def model(self) -> Any:
        return self._active.model

    @property
    def problem(self) -> cp.Problem:
        return self._active.problem

    @property
    def compiled(self) -> CompiledProblem | None:
        return self._active.compiled

    def _activate(self, hours: int) -> None:
        """Make the program of ``hours`` hours the one solved, building and compiling it
        on first use."""
        if hours in self._programs:
            self._active = self._programs[hours]
            return
        self._active = self._programs[hours] = self._build(hours)
        self._compile()

    def _build(self, hours: int) -> _Program:
        sc = scenario_from_env(self.history.env, 0, hours)
        for d in sc.devices:
            if d.kind == "generator" and d.config.allow_commitment:
                raise UnsupportedSetupError(f"{d.agent}/{d.name}: unit commitment is not "
                                            "modelled by the MPC (the oracle handles it).")
        if not self._programs:  # the network is the same for every length
            self.rn = RadialNetwork.from_net(sc.net)
            self.Mload = (np.asarray(load_to_buses(sc.net, self.rn).todense())
                          / self.rn.base_mva)
        inputs = ModelInputs.for_scenario(sc, self.rn)
        taps, regulated = tap_positions(sc, "regulated")
        model = build_model(sc, self.rn, taps, soft=True, integer=False,
                            voltage_buses="microgrids", regulated=regulated,
                            voltage_margin=default_voltage_margin(sc, regulated),
                            inputs=inputs)
        objective = model.objective
        if model.feeder_loss is not None:
            objective = objective + model.feeder_loss
        problem = cp.Problem(cp.Minimize(objective), model.constraints)
        if not problem.is_dcp(dpp=True):  # pragma: no cover - a modelling bug
            raise RuntimeError("the MPC model is not DPP: every re-solve would recompile.")
        return _Program(hours, sc, inputs, model, problem)

    def _compile(self) -> None:
        """Compile the active program now, on the split's first hours, so that every
        later solve (``solve_ms``) only updates parameters."""
        prog = self._active
        fc = self.history.hours_(0, prog.hours)
        inp = prog.inputs
        self._set_data(fc, fc.price)
        inp.loss_price.value = np.zeros(prog.hours)
        inp.energy_reset.value = np.zeros(prog.hours)
        for d in prog.sc.devices:
            if d.kind == "ess":
                inp.e0[(d.agent, d.name)].value = d.config.init_soc * d.config.e_capacity_MWh
        if self.backend == "direct":
            prog.compiled = CompiledProblem(prog.problem,
                                            dict(self.solver_options.get(self.solver, {})))
        self._run_solver()

    def length_for(self, t: int) -> int:
        """Hours planned at step ``t``: the shortest kept length reaching the episode's
        end (the full horizon without trimming, or when the end is beyond it)."""
        end = int(self.env.max_episode_steps) - int(t)
        return next((n for n in self.lengths if n >= end), self.horizon)

    # ------------------------------------------------------------------ forecasts
    def forecast_window(self, hour: int, hours: int | None = None) -> _Day:
        """The forecast made at absolute ``hour`` for the next ``hours`` (default: the
        horizon)."""
        return forecast_window(self.history, hour, hours or self.horizon, self.forecast,
                               self.seasonal_days)

    # ------------------------------------------------------------------ stepping
    def reset(self) -> None:
        self._cache.clear()

    def actions_at(self, t: int) -> dict[str, np.ndarray]:
        """Native-size actions of every agent for step ``t`` of the current episode."""
        if t not in self._cache:
            self._cache = {t: self._plan(t)}
        return self._cache[t]

    def _set_inputs(self, t: int) -> None:
        env, inp, hours = self.env, self.inputs, self._active.hours
        hour = env.start_hour + t
        fc = self.forecast_window(hour, hours)
        reset = np.zeros(hours)
        end = int(env.max_episode_steps) - t  # the window's first hour past the episode
        if self.episode_aware and 0 < end < hours:
            reset[end] = 1.0
        inp.energy_reset.value = reset
        self._set_data(fc, fc.price)
        self._avail_now = {k: float(v[0]) for k, v in fc.available.items()}
        for (a, n), par in inp.e0.items():
            dev = env.agent_dict[a].devices[n]
            par.value = float(dev.state.storage.soc) * float(dev.config.e_capacity_MWh)

    def _set_data(self, fc: _Day, price: np.ndarray) -> None:
        """Forecast loads, availability and ``price`` into the model's parameters (the
        metering's values from :func:`.metering.metering_values`, which also refuses a
        non-convex settlement)."""
        inp = self.inputs
        metered = metering_values(self.sc, fc.load_p, price)
        inp.price.value = price
        inp.load_p.value = fc.load_p @ self.Mload
        inp.load_q.value = fc.load_q @ self.Mload
        for key, par in inp.available.items():
            par.value = np.maximum(fc.available[key], 0.0)
        for name, (own, value) in metered.items():
            inp.own_load[name].value = own
            inp.own_load_value[name].value = value

    def _run_solver(self) -> tuple[str, int, float]:
        """One solve with the current parameters: (status, iterations, solver ms)."""
        if self.compiled is not None:
            rep = self.compiled.solve()
            return rep.status, rep.iterations, rep.solver_ms
        try:
            with warnings.catch_warnings():  # the status says it (optimal_inaccurate)
                warnings.filterwarnings("ignore", message="Solution may be inaccurate")
                self.problem.solve(solver=self.solver,
                                   **dict(self.solver_options.get(self.solver, {})))
        except cp.error.SolverError as exc:
            log.warning("MPC solve failed: %s", exc)
            return "solver_error", 0, 0.0
        stats = self.problem.solver_stats
        return (str(self.problem.status), int(stats.num_iters or 0),
                1e3 * float(stats.solve_time or 0.0))

    def _solve(self, t: int, plan: StepPlan) -> str:
        """Solve, raising the loss weight until the cone is tight. Within an episode the
        search starts at the last step's weight (the next hour rarely needs less), so
        most steps take one solve."""
        start = 0
        if t > 0 and self.plans and self.plans[-1].loss_weight in self.loss_weights:
            start = self.loss_weights.index(self.plans[-1].loss_weight)
        status = "not solved"
        for weight in self.loss_weights[start:]:
            self.inputs.loss_price.value = weight * np.maximum(self.inputs.price.value, 0.0)
            status, iters, solver_ms = self._run_solver()
            plan.loss_weight = weight
            plan.solves += 1
            plan.iterations += iters
            plan.solver_ms += solver_ms
            if status not in SOLVED or is_exact(self.model):
                break
        return status

    def _plan(self, t: int) -> dict[str, np.ndarray]:
        self._activate(self.length_for(t))  # any build: before the clock
        t0, c0 = time.perf_counter(), time.process_time()
        plan = StepPlan(hour=t, status="not solved", loss_weight=0.0, solve_ms=0.0,
                        hours=self._active.hours)
        self._set_inputs(t)
        plan.status = status = self._solve(t, plan)
        plan.solve_ms = ms = 1e3 * (time.perf_counter() - t0)
        plan.cpu_ms = 1e3 * (time.process_time() - c0)
        self.solve_ms.append(ms)
        ok = status in SOLVED
        if not ok:
            log.warning("MPC step %d: %s; devices get their neutral action", t, status)
        out = {}
        for a in self.env.possible_agents:
            parts = []
            for name, dev in self.env.agent_dict[a].devices.items():
                parts.append(self._device_action(a, name, dev, ok, plan))
            out[a] = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
        self.plans.append(plan)
        return out

    def _device_action(self, agent: str, name: str, dev: Any, ok: bool,
                       plan: StepPlan) -> np.ndarray:
        """The first planned hour as the device's action (its own inverse map)."""
        key = (agent, name)
        if capabilities_of(dev).tap:
            return dev.action_for(Setpoint(tap=dev.config.init_tap))
        if not ok:
            return np.zeros(dev.get_action_space().shape[0], dtype=np.float32)
        p = float(np.asarray(self.model.dev_p[key].value).ravel()[0])
        q = float(np.asarray(self.model.dev_q[key].value).ravel()[0])
        plan.setpoints.setdefault(agent, {})[name] = (p, q, self._avail_now.get(key, np.nan))
        # a renewable delivers the planned share of what is there; a generator stays on
        return dev.action_for(Setpoint(p, q, on=True, p_available_MW=self._avail_now.get(key)))


def forecast_window(hist: _History, hour: int, horizon: int, kind: str = "persistence",
                    seasonal_days: int = SEASONAL_DAYS) -> _Day:
    """Forecast, made at absolute ``hour``, of hours ``hour .. hour + horizon - 1``."""
    if kind == "perfect":
        return hist.hours_(hour, horizon)
    if kind == "persistence":
        return _shift(hist, hour, horizon, 1)
    if kind == "seasonal":
        return _mean([_shift(hist, hour, horizon, k) for k in range(1, seasonal_days + 1)])
    raise ValueError(f"forecast {kind!r}: choose from {FORECASTS}.")


def _shift(hist: _History, hour: int, n: int, days_back: int) -> _Day:
    """Hours ``hour .. hour + n - 1`` as they were ``days_back`` days earlier."""
    return hist.hours_(hour - 24 * days_back, n)


class MPCPolicy(Policy):
    """One agent's view of a shared :class:`MPCController` (one plan per env step)."""

    def __init__(self, controller: MPCController, agent_id: str) -> None:
        self.controller, self.agent_id = controller, agent_id
        self.t = 0

    def reset(self, seed: int | None = None) -> None:
        self.t = 0
        self.controller.reset()

    def forward(self, observation: Any) -> np.ndarray:
        a = self.controller.actions_at(self.t)[self.agent_id]
        self.t += 1
        return a.copy()


#: one controller per (environment, options): compiling the model takes seconds, the
#: evaluation asks for policies once per day
_CONTROLLERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _hashable(value: Any) -> Any:
    """``value`` as a cache key: mappings (``solver_options``) and sequences as tuples."""
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _hashable(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(v) for v in value)
    return value


def mpc_controller(env: Any, **kwargs: Any) -> MPCController:
    """The (cached) controller of ``env`` for these options (:class:`MPCController`'s
    keyword arguments, ``solver_options`` included)."""
    per_env = _CONTROLLERS.setdefault(env, {})
    key = _hashable(kwargs)
    if key not in per_env:
        per_env[key] = MPCController(env, **kwargs)
    return per_env[key]


def mpc_policies(env: Any, **kwargs: Any) -> dict[str, MPCPolicy]:
    """One :class:`MPCPolicy` per agent of ``env``, sharing one controller."""
    ctrl = mpc_controller(env, **kwargs)
    return {a: MPCPolicy(ctrl, a) for a in env.possible_agents}
