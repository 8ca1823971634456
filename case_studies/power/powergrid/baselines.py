"""Baseline policies, all behind heron's ``Policy`` interface.

* ``rule`` (:class:`RuleBasedPolicy`): an operator's playbook, one line per device:

  - generators run at their *economic set-point* for the current price: where the
    marginal cost ``2 a P + b`` of their cost curve meets the price, within
    ``[p_min, p_max]`` (``p_max`` whenever the price is above the marginal cost there);
  - batteries charge at full power when the price is below the *low* threshold and
    discharge above the *high* one, idle between; the thresholds are daily price
    quantiles learnt from the **train** split (the mean over train days of each day's
    ``q_low`` / ``q_high`` quantile), and the battery keeps itself inside its SOC limits;
  - reactive power (generators, batteries, inverters that have it) holds the voltage in
    the band with a volt-var droop on the measured voltages: absorb as the highest bus
    voltage rises above the band's middle, inject as the lowest falls below it; and
    export may only rise by the voltage headroom left below the upper limit (a
    volt-watt rule: battery discharge gives way first, then generator output);
  - renewables deliver everything available; transformers hold their initial tap.

* ``follow-load`` (:class:`FollowLoadPolicy`): the earlier, naive rule: generators
  follow the microgrid's net load when the price is above their marginal cost (else
  ``p_min``), batteries charge below 38 and discharge above 50 $/MWh.
* ``random``: uniform actions (a floor every learner must beat).
* ``zero``: every normalised action 0 (mid-range setpoints); the 0 of the normalised score.
* ``oracle``: the optimal-dispatch solution of a day (``powergrid.optimization``), replayed.
* ``mpc``: the oracle's model re-planned every hour over 24 h with persistence forecasts
  (:mod:`powergrid.optimization.mpc`).

Rules read the grid agent's measurements from its observation (so delayed
observations really delay the controller), falling back to its state; a real
controller has the same measurements, and the RL policy sees the same numbers.
Which line of the playbook applies to a device is read from its declared
``capabilities`` (dispatchable, storage, curtailable, tap), its limits from
``limits()`` / ``reactive_range()``, and setpoints become actions through its own
``action_for`` (:mod:`powergrid.agents.device_agent`); a device with none of these
capabilities is held at action 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from heron.core.policies import ConstantPolicy, Policy, RandomPolicy
from powergrid.agents.device_agent import Setpoint, capabilities_of, has_inverse

#: daily price quantiles below / above which the ``rule`` battery charges / discharges
#: (a 5 MWh, 1 MW battery needs about 5 cheap and 5 dear hours a day)
PRICE_QUANTILES = (0.25, 0.75)
#: volt-var droop: no reactive power while the voltages are within this distance (pu)
#: of the band's middle; full absorption / injection at ``DROOP_FULL`` from the middle
DROOP_DEADBAND = 0.0
DROOP_FULL = 0.03
#: volt-watt: a battery's extra discharge this hour must fit into the voltage headroom
#: below ``v_max - VW_MARGIN`` (pu) at ``VOLTAGE_PER_MW`` pu per MW of extra export; a
#: voltage above that line makes export fall (generators too). Measured rises on the
#: shipped 4.16 kV microgrids are 0.02-0.06 pu/MW as the feeder's regulators move; 0.1
#: is the knee of cost against violations on ieee34_ieee13's *train* split (every 3rd
#: day: 0.25 % violating agent-steps at 0.06, 0.015 % at 0.1, none at 0.15, each step
#: costing 15-30 $/day); on its 84 test days it gives 0.03 %
VW_MARGIN = 0.005
VOLTAGE_PER_MW = 0.1


def train_price_thresholds(env: Any, quantiles: tuple[float, float] = PRICE_QUANTILES
                           ) -> tuple[float, float]:
    """(low, high) $/MWh: the mean over train days of each day's price quantiles.

    Read from the train split whatever split ``env`` runs on, so that a rule
    evaluated on test days has not seen them.
    """
    lo_q, hi_q = quantiles
    if not 0.0 <= lo_q < hi_q <= 1.0:
        raise ValueError(f"price quantiles must satisfy 0 <= low < high <= 1, got {quantiles}.")
    price = np.asarray(env.dataset["train"]["price"], dtype=float)
    days = price.size // 24
    if days == 0:
        raise ValueError("the train split has less than one day of prices; the rule's "
                         "battery thresholds are learnt from it.")
    daily = price[: days * 24].reshape(days, 24)
    return (float(np.quantile(daily, lo_q, axis=1).mean()),
            float(np.quantile(daily, hi_q, axis=1).mean()))


class _Measurements:
    """The grid agent's measurements by name, from its observation or its state."""

    def __init__(self, agent: Any) -> None:
        self.agent = agent
        self.names: list[str] = agent.observation_names()
        self.index = {n: i for i, n in enumerate(self.names)}

    def read(self, observation: Any) -> dict[str, float]:
        obs = None if observation is None else np.asarray(observation, dtype=float).ravel()
        if obs is not None and obs.size >= len(self.names):
            # padded observations: the agent's own entries come first
            return {n: float(obs[i]) for n, i in self.index.items()}
        return self._from_state()

    def _from_state(self) -> dict[str, float]:
        ag = self.agent
        ex = ag.state.exchange
        vm = np.asarray(ag.state.bus_voltages.vm_pu, dtype=float)
        out = {"exchange.price": float(ex.price), "exchange.total_load_MW": float(ex.total_load_MW),
               "bus_voltages.v_min": float(np.min(vm)) if vm.size else 1.0,
               "bus_voltages.v_max": float(np.max(vm)) if vm.size else 1.0}
        for name, dev in ag.devices.items():
            if capabilities_of(dev).curtailable:
                out[f"{name}.availability.p_available_MW"] = float(dev.available_power)
        return out


def _net_load(m: dict[str, float]) -> float:
    renewable = sum(v for n, v in m.items() if n.endswith(".availability.p_available_MW"))
    return max(0.0, m["exchange.total_load_MW"] - renewable)


def volt_var(v_min: float, v_max: float, v_limits: tuple[float, float],
             deadband: float = DROOP_DEADBAND, full: float = DROOP_FULL) -> float:
    """Reactive-power share in [-1, 1] (+ inject, - absorb) from the measured voltages.

    A volt-var curve around the band's middle, driven by whichever limit is closer:
    the highest bus voltage when it is above the middle, else the lowest.
    """
    mid = 0.5 * (v_limits[0] + v_limits[1])
    dev = v_max - mid if (v_max - mid) >= (mid - v_min) else v_min - mid
    excess = max(abs(dev) - deadband, 0.0) / max(full - deadband, 1e-9)
    return float(-np.sign(dev) * min(excess, 1.0))


class RuleBasedPolicy(Policy):
    """The operator's playbook (``rule``; see the module docstring)."""

    def __init__(self, grid_agent: Any, low_price: float, high_price: float,
                 deadband: float = DROOP_DEADBAND, full: float = DROOP_FULL,
                 voltage_per_mw: float = VOLTAGE_PER_MW) -> None:
        if low_price >= high_price:
            raise ValueError(f"RuleBasedPolicy: low_price ({low_price}) must be below "
                             f"high_price ({high_price}).")
        if voltage_per_mw <= 0:
            raise ValueError(f"RuleBasedPolicy: voltage_per_mw must be > 0, got {voltage_per_mw}.")
        self.agent = grid_agent
        self.low_price, self.high_price = float(low_price), float(high_price)
        self.deadband, self.full = deadband, full
        self.voltage_per_mw = voltage_per_mw
        self._meas = _Measurements(grid_agent)

    def forward(self, observation: Any) -> np.ndarray:
        m = self._meas.read(observation)
        price, v_lo, v_hi = m["exchange.price"], m["bus_voltages.v_min"], m["bus_voltages.v_max"]
        limits = tuple(self.agent.v_limits)
        share = volt_var(v_lo, v_hi, limits, self.deadband, self.full)
        devices = list(self.agent.devices.values())
        p = {d.agent_id: self._price_setpoint(d, price) for d in devices}
        self._volt_watt(devices, p, (limits[1] - VW_MARGIN - v_hi) / self.voltage_per_mw)
        parts = [self._action(d, p.get(d.agent_id), share) for d in devices]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)

    def _price_setpoint(self, dev: Any, price: float) -> float | None:
        """Active power (MW) the price asks of a generator or battery; None for others."""
        caps = capabilities_of(dev)
        if caps.dispatchable:
            return float(dev.economic_setpoint(price))
        if caps.storage:
            lim = dev.limits()
            if price <= self.low_price:
                return float(lim.p_min_MW)
            return float(lim.p_max_MW) if price >= self.high_price else 0.0
        return None

    @staticmethod
    def _volt_watt(devices: list[Any], p: dict[str, float | None], room: float) -> None:
        """Hold back the export increase beyond ``room`` MW: batteries first (their
        energy keeps), then generators; ``p`` is changed in place."""
        movable = [d for d in devices if p.get(d.agent_id) is not None]
        now = {d.agent_id: float(d.state.electrical.p_MW) for d in movable}
        storage = {d.agent_id: capabilities_of(d).storage for d in movable}
        # generators ramp freely to their economic set-point while the voltage is below
        # the line; only a battery's extra discharge has to fit into the headroom
        rising = [d for d in movable if storage[d.agent_id] or room < 0]
        excess = sum(max(p[d.agent_id] - now[d.agent_id], 0.0) for d in rising) - room
        for batteries in (True, False):
            for d in movable:
                if excess <= 0:
                    return
                if storage[d.agent_id] == batteries:
                    # a battery gives up discharging, it is not made to charge
                    floor = (min(p[d.agent_id], 0.0) if batteries
                             else float(d.limits().p_min_MW))
                    give = min(excess, max(p[d.agent_id] - floor, 0.0))
                    p[d.agent_id] -= give
                    excess -= give

    @staticmethod
    def _action(dev: Any, p: float | None, q_share: float) -> np.ndarray:
        caps = capabilities_of(dev)
        if not has_inverse(dev):  # e.g. the guide's recipe: no action_for to plan with
            space = dev.get_action_space()
            return (space.high if caps.curtailable else np.zeros(space.shape)).astype(np.float32)
        if caps.tap:
            return dev.action_for(Setpoint(tap=dev.config.init_tap))
        if caps.curtailable:
            p = dev.available_power
        if p is None:
            return np.zeros(dev.get_action_space().shape[0], dtype=np.float32)
        q_lo, q_hi = dev.reactive_range(p)
        q = q_share * (q_hi if q_share > 0 else -q_lo)
        return dev.action_for(Setpoint(p, q, on=True))


class FollowLoadPolicy(Policy):
    """``follow-load``: generators follow the net load when the price covers their
    marginal cost (else ``p_min``); batteries charge below ``low_price`` and discharge
    above ``high_price``; renewables deliver all; no reactive power."""

    def __init__(self, grid_agent: Any, low_price: float = 38.0, high_price: float = 50.0) -> None:
        if low_price >= high_price:
            raise ValueError("FollowLoadPolicy: low_price must be below high_price.")
        self.agent = grid_agent
        self.low_price = low_price
        self.high_price = high_price
        self._meas = _Measurements(grid_agent)

    def forward(self, observation: Any) -> np.ndarray:
        m = self._meas.read(observation)
        price, net_load = m["exchange.price"], _net_load(m)
        parts = []
        for dev in self.agent.devices.values():
            caps = capabilities_of(dev)
            if caps.dispatchable:
                lim = dev.limits()
                p = float(np.clip(net_load, lim.p_min_MW, lim.p_max_MW))
                if price < dev.marginal_cost(p):
                    p = lim.p_min_MW
                q = (lim.q_min_MVAr + lim.q_max_MVAr) / 2
                parts.append(dev.action_for(Setpoint(p, q, on=True)))
            elif caps.storage:
                parts.append(dev.respond_to_price(price, self.low_price, self.high_price))
            elif caps.tap:
                parts.append(dev.action_for(Setpoint(tap=dev.config.init_tap)))
            elif caps.curtailable:
                parts.append(dev.get_action_space().high.astype(np.float32))  # deliver all
            else:
                parts.append(np.zeros(dev.get_action_space().shape[0], dtype=np.float32))
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


#: every kind ``make_policies`` builds; the evaluation pipeline accepts the same names
POLICY_KINDS = ("rule", "follow-load", "random", "zero", "oracle", "mpc")


def make_policies(env: Any, kind: str, seed: int | None = 0, day: int | None = None,
                  mpc_options: dict[str, Any] | None = None) -> dict[str, Policy]:
    """One policy per agent of ``env`` for a baseline ``kind`` (see :data:`POLICY_KINDS`).

    ``oracle`` solves the perfect-forecast optimal dispatch of test ``day`` and replays
    it (the episode must then be reset with ``options={"day": day}``). ``mpc`` shares
    one receding-horizon controller between the agents (``mpc_options`` go to
    :class:`~powergrid.optimization.mpc.MPCController`, e.g. ``{"forecast": "seasonal"}``;
    the controller is built once per environment and options).
    """
    if kind == "oracle":
        if day is None:
            raise ValueError("make_policies(env, 'oracle') needs day=<test day index>.")
        from powergrid.optimization import solve_day

        result = solve_day(env.env_config, day, split=env.split,
                           horizon=env.max_episode_steps, env=env)
        return result.to_policies(env)
    if kind == "mpc":
        from powergrid.optimization.mpc import mpc_policies

        return mpc_policies(env, **(mpc_options or {}))
    if kind == "random":
        return {a: RandomPolicy(env.action_space(a), seed=None if seed is None else seed + i)
                for i, a in enumerate(env.possible_agents)}
    if kind == "rule":
        low, high = train_price_thresholds(env)
        return {a: RuleBasedPolicy(env.agent_dict[a], low, high) for a in env.possible_agents}
    if kind == "follow-load":
        return {a: FollowLoadPolicy(env.agent_dict[a]) for a in env.possible_agents}
    if kind == "zero":
        return {a: ConstantPolicy(np.zeros(env.action_space(a).shape)) for a in env.possible_agents}
    raise ValueError(f"Unknown policy kind {kind!r}; choose from {POLICY_KINDS}.")
