"""Energy storage system (battery)."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.spaces import Box
from pydantic import model_validator

from powergrid import physics
from powergrid.agents.action_map import to_unit
from powergrid.agents.config_schema import (
    NonNegativeReal,
    PositiveFraction,
    PositiveReal,
    Real,
    Text,
    UnitInterval,
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
from powergrid.core.features.storage import StorageBlock
from powergrid.utils.cost import storage_degradation_cost

SOC_TOL = physics.SOC_TOL  # re-exported; defined once in powergrid.physics


@device_config
class StorageConfig:
    """A battery's ``device_state_config`` (types and ranges: the setup schema too)."""

    bus: Text
    e_capacity_MWh: PositiveReal = 5.0
    p_max_MW: Real = 1.0      # max discharge (into the grid)
    p_min_MW: Real = -1.0     # max charge (negative)
    q_max_MVAr: NonNegativeReal = 0.0    # > 0 enables a reactive-power action
    soc_max: UnitInterval = 0.9
    soc_min: UnitInterval = 0.1
    init_soc: UnitInterval = 0.5
    ch_eff: PositiveFraction = 0.95
    dsc_eff: PositiveFraction = 0.95
    degradation_cost_per_MWh: NonNegativeReal = 2.0

    @model_validator(mode="after")
    def _consistent(self) -> StorageConfig:
        problems = []
        if self.p_min_MW > 0 or self.p_max_MW < 0:
            problems.append(f"need p_min_MW <= 0 <= p_max_MW (charge is negative), got "
                            f"[{self.p_min_MW}, {self.p_max_MW}].")
        if not self.soc_min < self.soc_max:
            problems.append(f"need soc_min < soc_max, got [{self.soc_min}, {self.soc_max}].")
        elif not self.soc_min <= self.init_soc <= self.soc_max:
            problems.append(f"init_soc {self.init_soc} outside [{self.soc_min}, {self.soc_max}].")
        raise_problems(problems)
        return self


class ESS(DeviceAgent):
    """Battery with SOC limits and separate charge/discharge efficiencies.

    Energy bookkeeping over a step of ``dt`` hours with grid-side power ``P``
    (positive = discharge into the grid):

    * discharging removes ``P * dt / dsc_eff`` MWh from the cells;
    * charging adds ``|P| * dt * ch_eff`` MWh.

    The setpoint is limited *before* the power flow so that the SOC can never leave
    ``[soc_min, soc_max]``: the grid only ever sees power the battery can deliver.
    (The user guide's sketch clipped the SOC afterwards, which silently creates or
    destroys energy.)
    """

    pp_element = "storage"
    config_class = StorageConfig
    capabilities = Capabilities(storage=True)

    def __init__(self, agent_id: str, device_state_config: dict[str, Any] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(agent_id=agent_id, device_state_config=device_state_config, **kwargs)
        self.config = build_config(StorageConfig, self._config, f"ESS {agent_id!r}")
        c = self.config
        self.state.add_feature("electrical", ElectricalBasePh())
        self.state.add_feature("storage", StorageBlock(
            soc=c.init_soc, e_capacity_MWh=c.e_capacity_MWh,
            e_stored_MWh=c.init_soc * c.e_capacity_MWh, ch_eff=c.ch_eff, dsc_eff=c.dsc_eff))
        self._space = Box(-1.0, 1.0, shape=(2 if c.q_max_MVAr > 0 else 1,), dtype=np.float32)

    def get_action_space(self) -> Box:
        return self._space

    def feasible_p_range(self) -> tuple[float, float]:
        """Grid-side (min, max) power this step given SOC and efficiencies."""
        c = self.config
        lo, hi = physics.storage_feasible_range(self.state.storage.soc, c.soc_min, c.soc_max,
                                                c.e_capacity_MWh, c.ch_eff, c.dsc_eff,
                                                c.p_min_MW, c.p_max_MW, self.dt)
        return float(lo), float(hi)

    def apply_action(self, a: np.ndarray) -> None:
        """Apply an already validated (finite, clipped) action."""
        c = self.config
        lo, hi = self.feasible_p_range()
        self.state.electrical.p_MW = float(physics.storage_setpoint(
            float(a[0]), c.p_min_MW, c.p_max_MW, lo, hi))
        self.state.electrical.q_MVAr = float(a[1] * c.q_max_MVAr) if a.size > 1 else 0.0

    def limits(self) -> DeviceLimits:
        """Rated limits (grid side; the SOC narrows P each step, see feasible_p_range)."""
        c = self.config
        return DeviceLimits(p_min_MW=c.p_min_MW, p_max_MW=c.p_max_MW,
                            q_min_MVAr=-c.q_max_MVAr, q_max_MVAr=c.q_max_MVAr)

    def action_for(self, setpoint: Setpoint) -> np.ndarray:
        """Normalised action(s) that ``apply_action`` maps to grid-side ``(p_MW, q_MVAr)``.

        The one inverse of :meth:`apply_action` (before its SOC limiting, which the
        battery applies itself). Scalars or arrays; clipped to [-1, 1].
        """
        c = self.config
        p = np.atleast_1d(np.asarray(setpoint.p_MW, dtype=float))
        a = np.zeros((p.size, self._space.shape[0]))
        a[:, 0] = to_unit(p, c.p_min_MW, c.p_max_MW)
        if a.shape[1] > 1:
            q = np.broadcast_to(np.asarray(setpoint.q_MVAr, dtype=float), p.shape)
            a[:, 1] = np.clip(q / c.q_max_MVAr, -1.0, 1.0)
        out = a.astype(np.float32)
        return out[0] if np.ndim(setpoint.p_MW) == 0 else out

    def update_state(self, *args: Any, **kwargs: Any) -> None:
        """Advance the SOC by one step of the setpoint that was applied."""
        c, st = self.config, self.state.storage
        st.soc = float(physics.soc_after(st.soc, self.state.electrical.p_MW, c.e_capacity_MWh,
                                         c.ch_eff, c.dsc_eff, c.soc_min, c.soc_max, self.dt))
        st.e_stored_MWh = st.soc * c.e_capacity_MWh

    def update_cost_safety(self) -> None:
        c = self.config
        self.cost = storage_degradation_cost(self.state.electrical.p_MW, self.dt,
                                             c.degradation_cost_per_MWh)
        self.safety = float(physics.soc_safety(self.state.storage.soc, c.soc_min, c.soc_max))

    def respond_to_price(self, price: float, low: float = 30.0, high: float = 60.0) -> np.ndarray:
        """Charge fully below ``low`` $/MWh, discharge fully above ``high``, idle between."""
        c = self.config
        if price <= low:
            p = c.p_min_MW
        elif price >= high:
            p = c.p_max_MW
        else:
            p = 0.0
        return self.action_for(Setpoint(p))
