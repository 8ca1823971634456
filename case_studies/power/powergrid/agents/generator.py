"""Dispatchable generator (e.g. a diesel genset or micro-turbine)."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.spaces import Box
from pydantic import model_validator

from powergrid import physics
from powergrid.agents.action_map import to_unit
from powergrid.agents.config_schema import (
    Flag,
    NonNegativeReal,
    PositiveReal,
    Real,
    Text,
    device_config,
    raise_problems,
)
from powergrid.agents.device_agent import (
    Capabilities,
    DeviceAgent,
    DeviceLimits,
    Setpoint,
    build_config,
)
from powergrid.core.features.electrical import ElectricalBasePh
from powergrid.core.features.power_limits import PowerLimits
from powergrid.core.features.status import UnitStatus
from powergrid.utils.cost import quadratic_cost


@device_config
class GeneratorConfig:
    """A generator's ``device_state_config`` (types and ranges: the setup schema too)."""

    bus: Text
    p_max_MW: Real = 10.0
    p_min_MW: Real = 0.0
    q_max_MVAr: Real = 5.0
    q_min_MVAr: Real = -5.0
    s_rated_MVA: PositiveReal = 12.0
    cost_curve_coefs: tuple[Real, Real, Real] = (0.02, 10.0, 0.0)  # a*P^2 + b*P + c  [$/h]
    startup_time_hr: NonNegativeReal = 1.0
    shutdown_time_hr: NonNegativeReal = 1.0
    startup_cost: NonNegativeReal = 0.0
    allow_commitment: Flag = False  # adds a 3rd action: > 0 keeps/turns the unit on
    init_on: Flag = True

    @model_validator(mode="after")
    def _consistent(self) -> GeneratorConfig:
        problems = []
        if self.p_min_MW > self.p_max_MW:
            problems.append(f"p_min_MW ({self.p_min_MW}) > p_max_MW ({self.p_max_MW}); swap them.")
        if self.q_min_MVAr > self.q_max_MVAr:
            problems.append(f"q_min_MVAr ({self.q_min_MVAr}) > q_max_MVAr ({self.q_max_MVAr}); "
                            "swap them.")
        if self.p_max_MW > self.s_rated_MVA:
            problems.append(f"p_max_MW ({self.p_max_MW}) exceeds s_rated_MVA "
                            f"({self.s_rated_MVA}); raise s_rated_MVA or lower p_max_MW.")
        raise_problems(problems)
        return self


class Generator(DeviceAgent):
    """Generator with P/Q limits, an apparent-power capability circle and commitment.

    Actions ``[p, q]`` in [-1, 1] map linearly onto ``[p_min, p_max]`` and
    ``[q_min, q_max]``. If ``P^2 + Q^2`` exceeds ``s_rated^2`` the reactive output
    is reduced first, as generator controllers do (active power earns money).

    With ``allow_commitment`` a third action decides on/off. Starting takes
    ``startup_time_hr`` (no output meanwhile) and costs ``startup_cost``; stopping
    takes ``shutdown_time_hr`` during which the unit holds ``p_min``.
    """

    pp_element = "sgen"
    config_class = GeneratorConfig
    capabilities = Capabilities(dispatchable=True)

    def __init__(self, agent_id: str, device_state_config: dict[str, Any] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(agent_id=agent_id, device_state_config=device_state_config, **kwargs)
        self.config = build_config(GeneratorConfig, self._config, f"Generator {agent_id!r}")
        c = self.config
        self.state.add_feature("electrical", ElectricalBasePh())
        self.state.add_feature("limits", PowerLimits(
            p_max_MW=c.p_max_MW, p_min_MW=c.p_min_MW,
            q_max_MVAr=c.q_max_MVAr, q_min_MVAr=c.q_min_MVAr))
        if c.allow_commitment:
            # Observed (a public block) only with commitment: otherwise the unit is always
            # on and `status` would be a constant. The shipped setups (and the bundled
            # policy's input size) have no commitment, so their observations are unchanged.
            self.state.add_feature("status", UnitStatus(on=1.0 if c.init_on else 0.0))
        self._space = Box(-1.0, 1.0, shape=(3 if c.allow_commitment else 2,), dtype=np.float32)
        self._transition_left = 0.0
        self._target_on = c.init_on
        self._started_this_step = False

    def get_action_space(self) -> Box:
        return self._space

    @property
    def is_on(self) -> bool:
        return (not self.config.allow_commitment) or self.state.status.on >= 0.5

    def apply_action(self, a: np.ndarray) -> None:
        """Apply an already validated (finite, clipped) action."""
        c = self.config
        self._started_this_step = False
        if c.allow_commitment:
            self._step_commitment(bool(a[2] > 0))
        p, q = physics.generator_setpoint(float(a[0]), float(a[1]), c.p_min_MW, c.p_max_MW,
                                          c.q_min_MVAr, c.q_max_MVAr, c.s_rated_MVA)
        p, q = float(p), float(q)
        if not self.is_on:
            p, q = 0.0, 0.0
        elif self._transition_left > 0 and not self._target_on:  # shutting down
            p, q = c.p_min_MW, 0.0
        self.state.electrical.p_MW = p
        self.state.electrical.q_MVAr = q

    def limits(self) -> DeviceLimits:
        c = self.config
        return DeviceLimits(p_min_MW=c.p_min_MW, p_max_MW=c.p_max_MW,
                            q_min_MVAr=c.q_min_MVAr, q_max_MVAr=c.q_max_MVAr)

    def action_for(self, setpoint: Setpoint) -> np.ndarray:
        """Normalised action(s) that ``apply_action`` maps to ``(p_MW, q_MVAr)``.

        The one inverse of the linear map in :meth:`apply_action`, so that baselines and
        the oracle's replay never re-derive it. Scalars or arrays (one row per value);
        setpoints outside the limits give the nearest action (clipped to [-1, 1]).
        ``setpoint.on`` is the commitment entry when the unit has one.
        """
        c = self.config
        p = np.atleast_1d(np.asarray(setpoint.p_MW, dtype=float))
        q = np.broadcast_to(np.asarray(setpoint.q_MVAr, dtype=float), p.shape)
        a = np.zeros((p.size, self._space.shape[0]))
        a[:, 0] = to_unit(p, c.p_min_MW, c.p_max_MW)
        a[:, 1] = to_unit(q, c.q_min_MVAr, c.q_max_MVAr)
        if c.allow_commitment:
            a[:, 2] = 1.0 if setpoint.on else -1.0
        out = a.astype(np.float32)
        return out[0] if np.ndim(setpoint.p_MW) == 0 else out

    def marginal_cost(self, p_MW: float) -> float:
        """$/MWh of one more MW at output ``p_MW``: ``2 a P + b``."""
        a, b, _ = (float(x) for x in self.config.cost_curve_coefs)
        return 2.0 * a * float(p_MW) + b

    def economic_setpoint(self, price: float) -> float:
        """Profit-maximising output (MW): marginal cost ``2 a P + b`` = price, within limits."""
        c = self.config
        a, b, _ = (float(x) for x in c.cost_curve_coefs)
        if a > 0:
            p = (price - b) / (2.0 * a)
        else:
            p = c.p_max_MW if price > b else c.p_min_MW
        return float(np.clip(p, c.p_min_MW, c.p_max_MW))

    def _step_commitment(self, want_on: bool) -> None:
        c, status = self.config, self.state.status
        if want_on != self._target_on and self._transition_left <= 0:
            self._target_on = want_on
            self._transition_left = c.startup_time_hr if want_on else c.shutdown_time_hr
            status.hours_in_state = 0.0
        if self._transition_left > 0:
            self._transition_left -= self.dt
        if self._transition_left <= 0 and (status.on >= 0.5) != self._target_on:
            status.on = 1.0 if self._target_on else 0.0
            self._started_this_step = self._target_on
        status.hours_in_state += self.dt

    def update_cost_safety(self) -> None:
        c = self.config
        p = self.state.electrical.p_MW
        a, b, c0 = (float(x) for x in c.cost_curve_coefs)
        self.cost = quadratic_cost(p, a, b, c0 if self.is_on else 0.0, self.dt)
        if self._started_this_step:
            self.cost += c.startup_cost
        self.safety = float(physics.generator_safety(
            p, self.state.electrical.q_MVAr, c.p_min_MW if self.is_on else 0.0, c.p_max_MW,
            c.s_rated_MVA))

    def respond_to_price(self, price: float) -> np.ndarray:
        """Produce where marginal cost 2aP + b equals the price (profit-maximising)."""
        c = self.config
        q = (c.q_min_MVAr + c.q_max_MVAr) / 2.0  # mid-range reactive power (action 0)
        on = price > float(c.cost_curve_coefs[1])
        return self.action_for(Setpoint(self.economic_setpoint(price), q, on=on))

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self._transition_left = 0.0
        self._target_on = self.config.init_on
        self._started_this_step = False

