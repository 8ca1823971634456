"""PowerGridAgent: a microgrid controller (coordinator) on a pandapower network.

It owns the devices listed in ``grid_config['devices']``, adds them to the network
at build time, and each step (1) splits its action over the devices with its
protocol, (2) writes setpoints and this hour's loads into the shared
:class:`~powergrid.envs.grid_model.GridModel`, and after the power flow (3) syncs
voltages and flows of *its own* buses and lines and (4) prices cost and safety.

Bus names are resolved inside the microgrid's own zone: three microgrids built from
the IEEE 13 feeder all have a "Bus 633", and a global lookup would silently put
every device in the first one.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from heron.agents.system_agent import SystemAgent
from heron.core.feature import flatten_blocks
from heron.core.state import State
from heron.protocols.base import Protocol
from heron.protocols.vertical import SetpointProtocol
from powergrid.agents.device_agent import ConfigError, DeviceAgent
from powergrid.agents.generator import Generator
from powergrid.agents.grid_agent import GridAgent
from powergrid.agents.registry import DEVICE_REGISTRY, get_device_class
from powergrid.agents.storage import ESS
from powergrid.core.features.network import BusVoltages, GridExchange, LineFlows
from powergrid.core.state.state import GridState
from powergrid.utils.cost import energy_cost
from powergrid.utils.safety import V_MAX_PU, V_MIN_PU, line_overload, voltage_violation

__all__ = ["GridAgent", "PowerGridAgent", "GridSystemAgent", "DEVICE_REGISTRY", "Generator", "ESS"]


#: A microgrid's ``load_scale`` when its config gives none: 10 % of the IEEE 13 feeder's
#: published load (about 0.35 MW peak), the size of a microgrid whose devices are rated
#: 1-2 MW, as in the user guide's setup. A full IEEE 13 load (3.5 MW) per microgrid
#: does not fit on the IEEE 34 feeder: its power flow diverges at once.
DEFAULT_MICROGRID_LOAD_SCALE = 0.1

#: the series :meth:`PowerGridAgent.add_dataset` accepts, in ``set_exogenous`` order
_SERIES = ("load", "solar", "wind", "price")
_MIN, _MAX = np.minimum.reduce, np.maximum.reduce


def rows_index(rows: np.ndarray) -> slice | np.ndarray:
    """``rows`` as a slice when they are consecutive (a slice write is several times
    cheaper than a fancy-index one, and a grid's loads usually are consecutive)."""
    if rows.size and np.array_equal(rows, np.arange(rows[0], rows[0] + rows.size)):
        return slice(int(rows[0]), int(rows[0]) + rows.size)
    return rows


@lru_cache(maxsize=256)
def clock_features(hour: float) -> tuple[float, float]:
    """(sin, cos) of the hour of day on the 24 h circle, as observed in ``exchange``.

    Remembered per hour: the env asks for the same 24 values every day, and two
    numpy scalar calls per grid and step cost more than the rest of the exogenous
    update.
    """
    angle = 2 * np.pi * hour / 24.0
    return float(np.sin(angle)), float(np.cos(angle))


def _zone_mask(net: Any, zone: str) -> np.ndarray:
    if "zone" in net.bus and zone and (net.bus.zone == zone).any():
        return (net.bus.zone == zone).to_numpy()
    return np.ones(len(net.bus), dtype=bool)


def resolve_bus(net: Any, bus_name: str, zone: str = "") -> int:
    """pandapower index of ``bus_name`` among the buses of ``zone``.

    Accepts both the short name used in configs ("Bus 633") and the full, prefixed
    network name ("MG1 Bus 633").
    """
    mask = _zone_mask(net, zone)
    names = net.bus.name[mask].astype(str)
    candidates = {bus_name, f"{zone} {bus_name}".strip()}
    hit = names[names.isin(candidates)]
    if hit.empty:
        valid = sorted(names.tolist())
        shown = ", ".join(valid[:40]) + (" ..." if len(valid) > 40 else "")
        raise ConfigError(
            f"Bus {bus_name!r} not found in grid {zone or '(whole network)'!r}. "
            f"Valid bus names: {shown}."
        )
    return int(hit.index[0])


class PowerGridAgent(GridAgent):
    """Grid-level coordinator with pandapower integration."""

    def __init__(
        self,
        net: Any,
        grid_config: dict[str, Any],
        protocol: Protocol | None = None,
        policy=None,
        grid_model=None,
        zone: str | None = None,
        dt: float = 1.0,
        **kwargs: Any,
    ) -> None:
        if not isinstance(grid_config, dict) or "name" not in grid_config:
            raise ConfigError("grid_config needs a 'name' (e.g. name: MG1).")
        self._net = net
        self._grid_config = grid_config
        super().__init__(agent_id=str(grid_config["name"]), protocol=protocol, policy=policy,
                         config={"agents": grid_config.get("devices", [])}, **kwargs)
        self.zone = self.agent_id if zone is None else zone
        self.dt = float(dt)
        self.load_scale = float(grid_config.get("load_scale", DEFAULT_MICROGRID_LOAD_SCALE))
        if self.load_scale < 0:
            raise ConfigError(f"{self.agent_id}: load_scale must be >= 0, got {self.load_scale}.")
        self.include_grid_cost = bool(grid_config.get("include_grid_cost", True))
        self.sell_price_ratio = float(grid_config.get("sell_price_ratio", 1.0))
        self.v_limits = (float(grid_config.get("v_min_pu", V_MIN_PU)),
                         float(grid_config.get("v_max_pu", V_MAX_PU)))

        self._bus_idx = net.bus.index[_zone_mask(net, self.zone)].to_numpy()
        bus_set = set(self._bus_idx.tolist())
        self._line_idx = net.line.index[net.line.from_bus.isin(bus_set)].to_numpy()
        self._load_idx = net.load.index[net.load.bus.isin(bus_set)].to_numpy()
        self.state = GridState(owner_id=self.agent_id)
        self.state.add_feature("bus_voltages", BusVoltages(
            vm_pu=np.ones(len(self._bus_idx)), v_min=1.0, v_max=1.0))
        self.state.add_feature("line_flows", LineFlows(
            p_MW=np.zeros(len(self._line_idx)), loading_pct=np.zeros(len(self._line_idx))))
        self.state.add_feature("exchange", GridExchange())
        self._scale_shunts(net, self._bus_idx, self.load_scale)
        self._build_device_agents()
        self._apply_initial_taps(grid_config.get("trafo_taps") or {})
        self.cost = 0.0
        self.safety = 0.0
        self.grid_cost = 0.0
        self.price = 0.0
        self.converged = True
        self._dataset = None
        self._t = 0
        self._slices: list[tuple[DeviceAgent, int, int]] | None = None  # see _setpoint_slices
        self._setpoint_size = 0
        self.grid_model = None
        if grid_model is not None:
            self.attach(grid_model)

    # -- construction ------------------------------------------------------------------
    @property
    def net(self) -> Any:
        return self._net

    def _build_device_agents(self) -> None:
        seen: set[str] = set()
        for i, dcfg in enumerate(self._grid_config.get("devices", []) or []):
            where = f"{self.agent_id}.devices[{i}]"
            if not isinstance(dcfg, dict) or "type" not in dcfg or "name" not in dcfg:
                raise ConfigError(f"{where}: each device needs 'type' and 'name'.")
            name = str(dcfg["name"])
            if name in seen:
                raise ConfigError(f"{where}: duplicate device name {name!r} in {self.agent_id}.")
            seen.add(name)
            try:
                cls = get_device_class(dcfg["type"])
            except ValueError as exc:
                raise ConfigError(f"{where}: {exc}") from None
            state_cfg = dict(dcfg.get("device_state_config", {}) or {})
            device = cls(agent_id=name, device_state_config=state_cfg)
            device.dt = self.dt
            self._add_device_to_network(device, state_cfg, where)
            self.add_subordinate(device)

    def _add_device_to_network(self, device: DeviceAgent, cfg: dict[str, Any], where: str) -> None:
        import pandapower as pp

        kind = getattr(device, "pp_element", "sgen")
        if kind == "trafo":
            device.pp_idx = self._resolve_trafo(str(cfg.get("trafo", "")), where)
            return
        if "bus" not in cfg:
            raise ConfigError(f"{where}: device_state_config needs a 'bus' (e.g. bus: 'Bus 633').")
        try:
            bus = resolve_bus(self._net, str(cfg["bus"]), self.zone)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        full_name = f"{self.agent_id}/{device.agent_id}"
        if kind == "storage":
            c = device.config
            device.pp_idx = int(pp.create_storage(
                self._net, bus=bus, p_mw=0.0, max_e_mwh=c.e_capacity_MWh,
                soc_percent=c.init_soc * 100.0, name=full_name))
        elif kind == "sgen":
            device.pp_idx = int(pp.create_sgen(self._net, bus=bus, p_mw=0.0, q_mvar=0.0,
                                               name=full_name))
        else:
            raise ConfigError(f"{where}: {type(device).__name__}.pp_element={kind!r} is not "
                              "one of 'sgen', 'storage', 'trafo'.")

    @staticmethod
    def _scale_shunts(net: Any, buses: np.ndarray, scale: float) -> None:
        """Scale capacitor banks with the load they were sized for.

        A feeder scaled to a tenth of its load but keeping full-size capacitors is
        massively over-compensated: the IEEE 13 banks (700 kvar) on 35 kW of load
        push a weak 24.9 kV feeder above 1.3 pu. ``load_scale`` therefore shrinks a
        grid's shunt compensation by the same factor.
        """
        if scale == 1.0 or not len(net.shunt):
            return
        mask = net.shunt.bus.isin(set(buses.tolist()))
        net.shunt.loc[mask, "q_mvar"] *= scale
        net.shunt.loc[mask, "p_mw"] *= scale

    def _apply_initial_taps(self, taps: dict[str, Any]) -> None:
        """Set fixed tap positions (e.g. regulators retuned for a lightly loaded microgrid).

        The published IEEE 13 regulator taps (+10 steps) suit the full published load;
        at a tenth of it they push every bus above 1.05 pu.
        """
        if not isinstance(taps, dict):
            raise ConfigError(f"{self.agent_id}: trafo_taps must map transformer names to taps.")
        for name, tap in taps.items():
            idx = self._resolve_trafo(str(name), f"{self.agent_id}.trafo_taps")
            t = self._net.trafo
            lo, hi = t.at[idx, "tap_min"], t.at[idx, "tap_max"]
            if not isinstance(tap, int) or (lo == lo and not lo <= tap <= hi):
                raise ConfigError(f"{self.agent_id}.trafo_taps.{name}: tap must be an integer "
                                  f"in [{lo}, {hi}], got {tap!r}.")
            t.at[idx, "tap_pos"] = tap

    def _resolve_trafo(self, name: str, where: str) -> int:
        t = self._net.trafo
        in_zone = t.hv_bus.isin(self._bus_idx) | t.lv_bus.isin(self._bus_idx)
        names = t.name[in_zone].astype(str)
        hit = names[(names == name) | (names == f"{self.agent_id} {name}")
                    | names.str.endswith(f" {name}")]
        if not name or hit.empty:
            raise ConfigError(f"{where}: transformer {name!r} not found in {self.agent_id}. "
                              f"Valid: {sorted(names.tolist())}.")
        return int(hit.index[0])

    def attach(self, grid_model) -> None:
        """Bind to the compiled network; called once the network is complete."""
        gm = grid_model
        self.grid_model = gm
        self._bus_rows = np.array([gm.bus_pos[int(b)] for b in self._bus_idx], dtype=np.int64)
        self._line_rows = np.array([gm.line_pos[int(b)] for b in self._line_idx], dtype=np.int64)
        self._load_rows = np.array([gm.load_pos[int(b)] for b in self._load_idx], dtype=np.int64)
        self._load_at = rows_index(self._load_rows)
        self._base_p = gm.base_load_p[self._load_rows].copy()
        self._base_q = gm.base_load_q[self._load_rows].copy()
        self._dev_rows: list[tuple[DeviceAgent, str, int, int]] = []
        net = self._net
        for dev in self.devices.values():
            kind = getattr(dev, "pp_element", "sgen")
            table = {"sgen": gm.sgen_pos, "storage": gm.storage_pos, "trafo": gm.trafo_pos}[kind]
            row = table[int(dev.pp_idx)]
            bus = int(net[kind].at[dev.pp_idx, "hv_bus" if kind == "trafo" else "bus"])
            self._dev_rows.append((dev, kind, row, gm.bus_pos[bus]))
        pcc = net.trafo.index[net.trafo.name.astype(str) == f"{self.agent_id} PCC"]
        self._pcc_row = gm.trafo_pos[int(pcc[0])] if len(pcc) else None
        eg = net.ext_grid.index[net.ext_grid.bus.isin(self._bus_idx)]
        self._ext_grid_row = (list(net.ext_grid.index).index(int(eg[0]))
                              if (self._pcc_row is None and len(eg)) else None)

    # -- what planners read (oracle, MPC): the same elements the env meters -----------
    @property
    def bus_index(self) -> np.ndarray:
        """pandapower indices of this grid's buses (a copy)."""
        return np.asarray(self._bus_idx, dtype=np.int64).copy()

    @property
    def line_index(self) -> np.ndarray:
        """pandapower indices of this grid's lines (a copy)."""
        return np.asarray(self._line_idx, dtype=np.int64).copy()

    @property
    def load_rows(self) -> np.ndarray:
        """This grid's rows in the grid model's load vectors (a copy)."""
        return np.asarray(self._load_rows, dtype=np.int64).copy()

    @property
    def import_meter(self) -> tuple[str, int]:
        """Where this grid's import is metered, as :meth:`_import_mw` reads it:
        ``("pcc_trafo", trafo index)`` (the HV side of its PCC transformer),
        ``("ext_grid", -1)`` (its own slack) or ``("balance", -1)`` (a power balance)."""
        if self._pcc_row is not None:
            return "pcc_trafo", int(self._net.trafo.index[self._pcc_row])
        if self._ext_grid_row is not None:
            return "ext_grid", -1
        return "balance", -1

    # -- time series ---------------------------------------------------------------------
    def add_dataset(self, dataset: dict[str, Any]) -> None:
        """Hourly series that :meth:`step` walks, for a grid used on its own.

        ``load`` (factor on the grid's base load) is required; ``solar`` and ``wind``
        (per-unit availability) and ``price`` ($/MWh) are optional (0 when absent).
        Each series repeats when it runs out. Environments feed their grids
        themselves and never read this.
        """
        if not isinstance(dataset, dict):
            raise ConfigError(f"{self.agent_id}.add_dataset: expected a dict of series, got "
                              f"{type(dataset).__name__}.")
        unknown = sorted(set(dataset) - set(_SERIES))
        if unknown:
            raise ConfigError(f"{self.agent_id}.add_dataset: unknown series {unknown}; "
                              f"valid: {list(_SERIES)}.")
        series = {}
        for key in _SERIES:
            if key not in dataset:
                continue
            values = np.asarray(dataset[key], dtype=np.float64).ravel()
            if not values.size or not np.isfinite(values).all():
                raise ConfigError(f"{self.agent_id}.add_dataset: {key!r} must be a non-empty "
                                  "series of finite numbers.")
            series[key] = values.tolist()
        if "load" not in series:
            raise ConfigError(f"{self.agent_id}.add_dataset: a 'load' series is required.")
        self._dataset = series

    def set_exogenous(self, load_factor: float, solar_pu: float = 0.0, wind_pu: float = 0.0,
                      price: float = 0.0, hour: float = 0.0) -> None:
        """This hour's load, renewable availability and price."""
        gm = self.grid_model
        scale = self.load_scale * float(load_factor)
        p = self._base_p * scale
        gm.load_p[self._load_at] = p
        gm.load_q[self._load_at] = self._base_q * scale
        self.set_availability(solar_pu, wind_pu)
        self.price = float(price)
        ex = self.state.exchange
        ex.price = self.price
        ex.total_load_MW = float(p.sum())
        ex.hour_sin, ex.hour_cos = clock_features(float(hour))

    # -- stepping ------------------------------------------------------------------------
    def apply_action(self, action: Any) -> None:
        """Apply a validated action (finite, native size, clipped to the flat action
        space): devices turn their shares into setpoints, written into the grid model.

        The env validates every action once, at its boundary, before anything changes.
        With the setpoint protocol each device's share is then its slice of the flat
        action and already inside the device's box, so it goes to the device's
        ``apply_action`` directly: re-validating eight small arrays per step through
        the coordinator cost more than the devices' maths. Any other protocol (a price
        signal, whose shares the devices compute) or action form goes through
        :meth:`coordinate`, which validates each share. :meth:`step` (stand-alone use,
        unvalidated input) always coordinates.
        """
        slices = self._setpoint_slices()
        if slices is not None and isinstance(action, np.ndarray) and action.ndim == 1 \
                and action.size == self._setpoint_size:
            for dev, lo, hi in slices:
                dev.apply_action(action[lo:hi])
        else:
            self.coordinate(action)
        self.write_setpoints()

    def _setpoint_slices(self) -> list[tuple[DeviceAgent, int, int]] | None:
        """``(device, start, stop)`` of each device in a flat setpoint action, or None when
        the coordinator must dispatch (another protocol, or a device that overrides
        ``set_action``, which the coordinator would call instead of ``apply_action``)."""
        if type(self.protocol) is not SetpointProtocol:
            return None
        if self._slices is None:
            from heron.agents.field_agent import FieldAgent

            slices, start = [], 0
            for dev in self.devices.values():
                if type(dev).set_action is not FieldAgent.set_action:
                    self._slices = []
                    return None
                n = int(np.prod(dev.get_action_space().shape))
                slices.append((dev, start, start + n))
                start += n
            self._slices, self._setpoint_size = slices, start
        return self._slices or None

    def write_setpoints(self) -> None:
        gm = self.grid_model
        for dev, kind, row, _ in self._dev_rows:
            if kind == "trafo":
                gm.set_tap(row, int(dev.state.tap.tap_pos))
                continue
            p, q = dev.injection()
            gm.set_injection(kind, row, p, q)

    def step(self, action: Any) -> None:
        """Stand-alone step (one grid, own power flow), as in the user guide."""
        if self.grid_model is None:
            from powergrid.envs.grid_model import GridModel

            self.attach(GridModel(self._net))
        if self._dataset is not None:
            t = self._t
            self.set_exogenous(*(values[t % len(values)] if values else 0.0
                                 for values in (self._dataset.get(k) for k in _SERIES)),
                               hour=t % 24)
        self.coordinate(action)  # validates each device's share (apply_action trusts its input)
        self.write_setpoints()
        result = self.grid_model.solve()
        self.sync_from_results(result)
        self.update_cost_safety()
        self._t += 1

    def sync_from_results(self, res) -> None:
        """Copy this grid's share of the power-flow results into states."""
        self.converged = bool(res.converged)
        bv, lf, ex = self.state.bus_voltages, self.state.line_flows, self.state.exchange
        if res.converged:
            vm = res.vm_pu[self._bus_rows]
            # ufunc reductions called directly: ndarray.min/max add a Python layer that
            # costs more than these few dozen values (this runs for every grid, every step)
            lowest = _MIN(vm) if vm.size else 0.0
            if lowest != lowest:  # NaN: isolated buses (open switches)
                finite = vm[np.isfinite(vm)]
                vm = np.nan_to_num(vm, nan=0.0)
                bv.v_min = float(finite.min()) if finite.size else 0.0
                bv.v_max = float(finite.max()) if finite.size else 0.0
            else:
                bv.v_min = float(lowest)
                bv.v_max = float(_MAX(vm)) if vm.size else 0.0
            bv.vm_pu = vm
            if self._line_rows.size:
                lf.p_MW = res.line_p_from_mw[self._line_rows]
                lf.loading_pct = res.line_loading_pct[self._line_rows]
                lf.max_loading = float(_MAX(lf.loading_pct))
            ex.p_import_MW = self._import_mw(res)
        for dev, kind, _, bus_row in self._dev_rows:
            if kind != "trafo" and "electrical" in dev.state and res.converged:
                dev.state.electrical.v_pu = float(res.vm_pu[bus_row])
                dev.state.electrical.va_deg = float(res.va_deg[bus_row])
            dev.update_state()

    def _import_mw(self, res) -> float:
        if self._pcc_row is not None:
            p_hv = getattr(res, "trafo_p_hv_mw", None)
            if p_hv is not None:
                return float(p_hv[self._pcc_row])
        if self._ext_grid_row is not None:
            return float(res.ext_grid_p_mw[self._ext_grid_row])
        # fall back to a power balance of this grid (losses of its lines included)
        gm = self.grid_model
        gen = sum(dev.injection()[0] for dev in self.devices.values())
        losses = float(np.nansum(res.line_pl_mw[self._line_rows])) if self._line_rows.size else 0.0
        return float(gm.load_p[self._load_rows].sum() - gen + losses)

    def _grid_cost_safety(self) -> None:
        """Energy settlement with the DSO; voltage and line violations (after the devices')."""
        self.grid_cost = 0.0
        if not self.converged:
            # no valid flow: bill the power balance (losses unknown) rather than the
            # previous hour's import
            gen = sum(dev.injection()[0] for dev in self.devices.values())
            self.state.exchange.p_import_MW = float(
                self.grid_model.load_p[self._load_rows].sum() - gen)
        if self.include_grid_cost:
            self.grid_cost = energy_cost(self.state.exchange.p_import_MW, self.price, self.dt,
                                         self.sell_price_ratio)
            if not self.converged:
                # an export the grid could not take earns nothing: otherwise dispatching
                # far beyond what the feeder carries pays more than the penalty costs
                self.grid_cost = max(self.grid_cost, 0.0)
            self.cost += self.grid_cost
        if self.converged:
            # the usual case (every bus in the band, no line overloaded: both terms are
            # 0.0) is decided by two ufunc reductions over the state itself, never by the
            # extremes cached in sync_from_results: the state may be set by other code
            vm, loading = self.state.bus_voltages.vm_pu, self.state.line_flows.loading_pct
            v_lo, v_hi = self.v_limits
            if not (vm.size and _MIN(vm) >= v_lo and _MAX(vm) <= v_hi):
                self.safety += voltage_violation(vm, v_lo, v_hi)
            if not (loading.size and _MAX(loading) <= 100.0):
                self.safety += line_overload(loading)

    # -- RL interface ----------------------------------------------------------------------
    def observe(self) -> np.ndarray:
        """What :class:`CoordinatorAgent` observes (devices' ``upper_level`` blocks, then
        its own), flattened in one pass over all blocks instead of one array per state
        and a concatenation: built three times per env step."""
        states = [dev.state for dev in self.devices.values()]
        if not all(type(st).to_array is State.to_array for st in (*states, self.state)):
            return super().observe()  # a state with its own flattening
        blocks = [b for st in states for b in st.visible_blocks("upper_level")]
        blocks.extend(self.state.visible_blocks("owner"))
        return flatten_blocks(blocks).astype(np.float32)

    def bus_names(self) -> list[str]:
        return self._net.bus.name.loc[self._bus_idx].astype(str).tolist()

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self.grid_cost = 0.0
        self.converged = True
        self._t = 0


class GridSystemAgent(SystemAgent):
    """The DSO: owns the distribution feeder's loads and sees every microgrid.

    It is not an RL agent by default; it scales the feeder's loads with the data
    and reports system-wide quantities (feeder-head import, losses, extremes).
    """

    def __init__(self, agent_id: str = "DSO", load_scale: float = 1.0, zone: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(agent_id, **kwargs)
        self.zone = agent_id if zone is None else zone
        self.load_scale = float(load_scale)
        if not np.isfinite(self.load_scale) or self.load_scale < 0:
            raise ConfigError(f"dso_config.load_scale must be a finite number >= 0, "
                              f"got {load_scale!r}.")
        self.state.add_feature("exchange", GridExchange())
        self._load_rows = np.zeros(0, dtype=np.int64)
        self._load_at: slice | np.ndarray = self._load_rows
        self.grid_model = None

    def scale_network(self, net: Any) -> None:
        """Apply ``load_scale`` to this feeder's capacitor banks (before compiling)."""
        buses = net.bus.index[_zone_mask(net, self.zone)].to_numpy()
        PowerGridAgent._scale_shunts(net, buses, self.load_scale)

    def attach(self, grid_model) -> None:
        self.grid_model = grid_model
        net = grid_model.net
        buses = net.bus.index[_zone_mask(net, self.zone)]
        idx = net.load.index[net.load.bus.isin(set(buses.tolist()))]
        self._load_rows = np.array([grid_model.load_pos[int(i)] for i in idx], dtype=np.int64)
        self._load_at = rows_index(self._load_rows)
        self._base_p = grid_model.base_load_p[self._load_rows].copy()
        self._base_q = grid_model.base_load_q[self._load_rows].copy()

    def set_exogenous(self, load_factor: float, price: float = 0.0, hour: float = 0.0) -> None:
        gm = self.grid_model
        s = self.load_scale * float(load_factor)
        p = self._base_p * s
        gm.load_p[self._load_at] = p
        gm.load_q[self._load_at] = self._base_q * s
        ex = self.state.exchange
        ex.price = float(price)
        ex.total_load_MW = float(p.sum())
        ex.hour_sin, ex.hour_cos = clock_features(float(hour))

    def sync_from_results(self, res) -> None:
        if res.converged:
            self.state.exchange.p_import_MW = float(np.sum(res.ext_grid_p_mw))
