"""NetworkedGridEnv: the multi-agent environment over one shared power network.

One step (see DESIGN.md): this hour's data -> actions (directly, or as messages in
distributed mode) -> devices -> one power flow for the whole network -> state sync
-> cost and safety -> rewards, observations, infos.

Execution modes
---------------
How actions and observations travel is heron's (:mod:`heron.envs.execution`), chosen
by ``centralized`` / ``message_broker`` or passed as ``execution=``:
``centralized: true``  agents read and write the network objects directly.
``centralized: false`` actions travel as messages to a :class:`ProxyAgent`, which is
the only holder of network state, and each agent's observation is whatever the
proxy serves it (filtered by visibility). With the same seed and actions both
modes give identical trajectories; a test checks it.
``execution=RemoteExecution(proxy)`` is the deployment, used by
:mod:`powergrid.distributed`: the agents run in other processes, fetch their own
observations from the proxy and send their actions through it (docs/distributed.md).
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

from heron.envs.base import HeronParallelEnv
from heron.envs.execution import ExecutionMode
from powergrid.agents.device_agent import ConfigError, capabilities_of
from powergrid.agents.power_grid_agent import GridSystemAgent, PowerGridAgent
from powergrid.envs.grid_model import GridModel
from powergrid.envs.regulators import RegulatorController, RegulatorSettings
from powergrid.powerflow.base import DEFAULT_BACKEND

log = logging.getLogger(__name__)


@dataclass
class ExogenousWindow:
    """Hours of exogenous data exactly as the env sets them (see
    :meth:`NetworkedGridEnv.exogenous_window`)."""

    price: np.ndarray  # (H,) $/MWh
    load_p: np.ndarray  # (H, n_load) MW, the grid model's load vector each hour
    load_q: np.ndarray  # (H, n_load) MVAr
    available: dict[tuple[str, str], np.ndarray]  # (agent, device): (H,) MW


class NetworkedGridEnv(HeronParallelEnv):
    metadata = {"render_modes": ["human"], "name": "networked_grid_v0"}
    #: microgrids own different devices; a shared policy (the guide's RLlib script)
    #: needs one space, so pad by default (``pad_spaces: false`` turns it off)
    default_pad_spaces = True

    def __init__(self, env_config: dict[str, Any] | None = None,
                 execution: ExecutionMode | None = None) -> None:
        env_config = dict(env_config or {})
        super().__init__(env_config, execution)
        cfg = self.env_config
        try:  # strict even when the config did not come through load_setup's schema
            self.train = self.config_flag("train", True)
            self.dt = self.config_number("dt", 1.0, positive=True)
            self.nonconvergence_penalty = self.config_number("nonconvergence_penalty", 100.0,
                                                             minimum=0.0)
            self.truncate_on_divergence = self.config_flag("truncate_on_divergence", True)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        pf = cfg.get("power_flow", {}) or {}
        if not isinstance(pf, dict):
            raise ConfigError("power_flow must be a mapping, e.g. power_flow: {backend: pandapower}.")
        self.backend = str(pf.get("backend", DEFAULT_BACKEND))
        self.dataset = self._load_dataset()
        self.agent_dict: dict[str, PowerGridAgent] = {}
        self.system_agent: GridSystemAgent | None = None

        self._net = self._build_net()
        self._build_agents()
        self.grid_model = GridModel(self.net, backend=self.backend)
        for agent in self.agent_dict.values():
            agent.attach(self.grid_model)
        if self.system_agent is not None:
            self.system_agent.attach(self.grid_model)
        controlled = {int(d.pp_idx) for a in self.agent_dict.values() for d in a.devices.values()
                      if getattr(d, "pp_element", "") == "trafo"}
        try:
            settings = RegulatorSettings.from_config(cfg.get("regulator_control"))
        except (TypeError, ValueError) as exc:
            raise ConfigError(str(exc)) from None
        # the regulators are controllers inside the grid model's power flow
        self.regulators = RegulatorController(self.grid_model, settings, controlled)
        self.grid_model.regulators = self.regulators
        self.market = self._build_market()
        self._test_day = 0
        self._start_hour = 0
        self._last_result = None
        self._exo_t = 0  # the hour of the episode whose data is loaded (_set_exogenous)
        self._init_exogenous(0)
        self._set_exogenous(0)
        self._solve_and_sync()
        self._check_feasible()
        # start every episode from the regulator positions the first hour settled to,
        # not from the published nominal-load taps (same start for every reset)
        self.grid_model.initial_taps = self.grid_model.tap_pos.copy()
        self._init_spaces()

    @property
    def net(self) -> Any:
        """The pandapower network, showing the last power flow (see ``GridModel.sync_net``).

        Synced on access, only after a new solve: the step loop never touches the tables,
        yet ``pp.runpp(env.net)`` and ``env.net.res_bus`` always see the current state.
        """
        grid_model = getattr(self, "grid_model", None)  # None while the env is being built
        if grid_model is not None:
            grid_model.sync_net()
        return self._net

    # -- building ------------------------------------------------------------------------
    def _check_feasible(self) -> None:
        """Refuse a setup whose very first hour has no power-flow solution.

        Such a config loads without a word and then every step diverges (each episode
        ends after one step at the non-convergence penalty), which looks like a
        learning problem, not a config one. The usual cause is more load than the
        feeder carries, so the message names the ``load_scale`` keys to change: it
        re-solves with each microgrid's load cut to the default to find the culprits.
        """
        if self._last_result is None or self._last_result.converged:
            return
        from powergrid.agents.power_grid_agent import DEFAULT_MICROGRID_LOAD_SCALE

        gm, cfgs = self.grid_model, self.env_config.get("microgrid_configs") or []
        heavy = [(i, a) for i, a in enumerate(self.agent_dict.values())
                 if a.load_scale > DEFAULT_MICROGRID_LOAD_SCALE]
        loads = ", ".join(f"{a.agent_id}: load_scale={a.load_scale:g} "
                          f"({gm.load_p[a._load_rows].sum():.2f} MW)"
                          for a in self.agent_dict.values())
        if self.system_agent is not None:
            dso = self.system_agent
            loads += (f"; dso_config.load_scale={dso.load_scale:g} "
                      f"({gm.load_p[dso._load_rows].sum():.2f} MW)")
        for _, a in heavy:
            gm.load_p[a._load_rows] *= DEFAULT_MICROGRID_LOAD_SCALE / a.load_scale
            gm.load_q[a._load_rows] *= DEFAULT_MICROGRID_LOAD_SCALE / a.load_scale
        fixed = bool(heavy) and gm.solve().converged
        if fixed:
            keys = ", ".join(f"microgrid_configs[{i}].load_scale ({cfgs[i].get('name', a.agent_id)}"
                             f"{', not set: default' if 'load_scale' not in cfgs[i] else ''}"
                             f" {a.load_scale:g})" for i, a in heavy)
            raise ConfigError(
                "The power flow of the first hour does not converge with the devices at "
                f"their initial set-points: the microgrids' load does not fit on the feeder "
                f"({loads}). It converges with {keys} lowered to "
                f"{DEFAULT_MICROGRID_LOAD_SCALE:g} (the default). Set load_scale on each "
                "microgrid to the share of the IEEE feeder's published load it should carry.")
        raise ConfigError(
            "The power flow of the first hour does not converge with the devices at their "
            f"initial set-points ({loads}). Likely causes: too much load for the feeder "
            "(lower load_scale in dso_config or microgrid_configs), a microgrid at a weak "
            "connection_bus (e.g. behind a small transformer), or device ratings far above "
            "the grid's (p_max_MW, s_rated_MVA). See docs/troubleshooting.md.")

    @abstractmethod
    def _build_net(self):
        """Return the pandapower network."""

    def _build_market(self):
        if self.env_config.get("protocol") != "p2p":
            return None
        from powergrid.market import P2PMarket

        return P2PMarket()

    def _agent_action_space(self, agent_id: str):
        space = super()._agent_action_space(agent_id)
        if self.market is None:
            return space
        # one extra action: the microgrid's bid/ask price
        from gymnasium.spaces import Box

        from heron.agents.coordinator_agent import flatten_box_spaces

        return flatten_box_spaces(
            {"devices": space, "price": Box(-1.0, 1.0, shape=(1,), dtype="float32")})

    def _load_dataset(self) -> dict:
        from powergrid.data.dataset import (
            load_dataset,
            load_default_dataset,
            normalize_dataset,
            validate_dataset,
        )

        cfg = self.env_config
        if "dataset" in cfg and cfg["dataset"] is not None:
            # a dict given in Python gets the same shorthands as a file (daily profiles,
            # an empty test split); normalize_dataset copies, the caller's dict is kept
            ds = normalize_dataset(cfg["dataset"])
            validate_dataset(ds)
            return ds
        if cfg.get("dataset_path"):
            return load_dataset(cfg["dataset_path"])
        return load_default_dataset()

    # -- time series -----------------------------------------------------------------------
    @property
    def split(self) -> str:
        return "train" if self.train else "test"

    def _series(self, key: str, profile: str | None) -> np.ndarray:
        data = self.dataset[self.split]
        if profile is None:
            return np.asarray(data[key], dtype=np.float64)
        names = [str(n) for n in data.get(f"{key}_profile_names", [])]
        if profile not in names:
            raise ConfigError(f"{key}_profile {profile!r} not in the dataset; available: {names}.")
        return np.asarray(data[f"{key}_profiles"][:, names.index(profile)], dtype=np.float64)

    def _init_exogenous(self, start_hour: int, hours: int | None = None) -> None:
        """Pre-slice this episode's series per grid (no dict lookups in the step loop)."""
        n = self.max_episode_steps + 1 if hours is None else int(hours)
        length = len(self.dataset[self.split]["load"])
        idx = (start_hour + np.arange(n)) % length
        self._hours = idx % 24
        self._price = self._series("price", None)[idx]
        self._exo: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for agent_id, agent in self.agent_dict.items():
            g = agent._grid_config
            self._exo[agent_id] = (
                self._series("load", g.get("load_profile"))[idx],
                self._series("solar", g.get("solar_profile"))[idx],
                self._series("wind", g.get("wind_profile"))[idx],
            )
        if self.system_agent is not None:
            dso = self.env_config.get("dso_config", {}) or {}
            self._dso_load = self._series("load", dso.get("load_profile"))[idx]
        # the same series as Python floats for the step loop (a numpy scalar per read
        # costs more than the arithmetic it feeds)
        self._exo_floats = (
            self._price.tolist(), self._hours.astype(np.float64).tolist(),
            [(agent, *(series.tolist() for series in self._exo[agent_id]))
             for agent_id, agent in self.agent_dict.items()],
            self._dso_load.tolist() if self.system_agent is not None else None,
        )

    def _set_exogenous(self, t: int) -> None:
        self._exo_t = t
        prices, hours, grids, dso_load = self._exo_floats
        price, hour = prices[t], hours[t]
        for agent, load, solar, wind in grids:
            agent.set_exogenous(load[t], solar[t], wind[t], price, hour)
        if dso_load is not None:
            self.system_agent.set_exogenous(dso_load[t], price, hour)

    # -- the episode's data, for planners (oracle, MPC) ------------------------------
    @property
    def start_hour(self) -> int:
        """Absolute hour of the split at which the current episode started."""
        return int(self._start_hour)

    @property
    def episode_prices(self) -> np.ndarray:
        """The current episode's price series, one per step (+1: the hour after), a copy."""
        return self._price.copy()

    @property
    def last_result(self) -> Any:
        """The last :class:`~powergrid.powerflow.PowerFlowResult` (None before the first)."""
        return self._last_result

    def exogenous_window(self, start_hour: int, hours: int) -> ExogenousWindow:
        """Loads, availability and prices of ``hours`` hours from absolute ``start_hour``,
        computed by the env's own data path (profiles, load scales, ratings), so a
        planner sees exactly what a replay will.

        The env is left as it was: the current episode's series and this hour's data
        are put back afterwards.
        """
        if hours < 1:
            raise ValueError(f"exogenous_window: hours must be >= 1, got {hours}.")
        episode_start, episode_t = self._start_hour, self._exo_t
        gm = self.grid_model
        ren = [(a, n, dev) for a, agent in self.agent_dict.items()
               for n, dev in agent.devices.items() if capabilities_of(dev).curtailable]
        n_load = gm.load_p.size
        out = ExogenousWindow(price=np.zeros(hours), load_p=np.zeros((hours, n_load)),
                              load_q=np.zeros((hours, n_load)),
                              available={(a, n): np.zeros(hours) for a, n, _ in ren})
        try:
            self._init_exogenous(int(start_hour), hours)
            out.price[:] = self._price
            for t in range(hours):
                self._set_exogenous(t)
                out.load_p[t] = gm.load_p
                out.load_q[t] = gm.load_q
                for a, n, dev in ren:
                    out.available[(a, n)][t] = float(dev.available_power)
        finally:
            self._init_exogenous(episode_start)
            self._set_exogenous(episode_t)
        return out

    def _choose_start_hour(self, options: dict | None) -> int:
        days = len(self.dataset[self.split]["load"]) // 24
        options = options or {}
        if "start_hour" in options:
            return int(options["start_hour"])
        if "day" in options:
            return int(options["day"]) % days * 24
        if self.train:
            return int(self.np_random.integers(0, days)) * 24
        day = self._test_day % days
        self._test_day += 1
        return day * 24

    # -- stepping --------------------------------------------------------------------------
    def _reset_domain(self, seed: int | None, options: dict | None) -> None:
        if seed is not None:
            self._test_day = 0
        self.grid_model.reset()
        self._start_hour = self._choose_start_hour(options)
        self._init_exogenous(self._start_hour)
        self._set_exogenous(0)
        for agent in self.agent_dict.values():
            agent.write_setpoints()
        self._solve_and_sync()

    def _load_step_data(self) -> None:
        self._set_exogenous(self._t)

    def _apply_actions(self, actions: dict[str, np.ndarray]) -> None:
        """Apply the actions :meth:`validate_actions` returned (native, finite, clipped).

        Nothing here rejects an action any more: the base ``step`` validated all of
        them first, so a bad one changes no state in any mode. This hour's data is
        already in (:meth:`_load_step_data`).
        """
        actions = self.execution.deliver(actions)
        self._price_actions = {}
        for agent_id in self.agents:
            action = actions[agent_id]
            if self.market is not None:
                # the last entry is the microgrid's bid/ask price (see action_layout)
                action, self._price_actions[agent_id] = action[:-1], float(action[-1])
            self.agent_dict[agent_id].apply_action(action)

    def action_layout(self, agent_id: str) -> dict[str, int]:
        """The devices' setpoints, then (protocol p2p) one bid/ask price entry ``price``."""
        layout = self.agent_dict[agent_id].action_layout()
        return {**layout, "price": 1} if self.market is not None else layout

    def _solve_and_sync(self):
        res = self.grid_model.solve()
        self._last_result = res
        for agent in self.agent_dict.values():
            agent.sync_from_results(res)
            agent.update_cost_safety()
        if self.system_agent is not None:
            self.system_agent.sync_from_results(res)
        self._settlement = None
        if self.market is not None and res.converged and getattr(self, "_price_actions", None):
            self._settle_market()
        return res

    def _settle_market(self) -> None:
        agents = {a: self.agent_dict[a] for a in self._price_actions}
        price = next(iter(agents.values())).price
        result = self.market.settle(
            {a: g.state.exchange.p_import_MW for a, g in agents.items()},
            self._price_actions, price, {a: g.sell_price_ratio for a, g in agents.items()},
            self.dt)
        for a, g in agents.items():
            g.cost += result.cost_change[a]
            g.grid_cost += result.cost_change[a]
        self._settlement = result

    def _simulate(self) -> dict[str, dict[str, Any]]:
        res = self._solve_and_sync()
        if not res.converged:
            log.warning("Power flow did not converge at t=%d (%d iterations); applying "
                        "nonconvergence_penalty=%.1f", self._t, res.iterations,
                        self.nonconvergence_penalty)
        infos: dict[str, dict[str, Any]] = {}
        converged, iterations = bool(res.converged), int(res.iterations)
        hour = int(self._exo_floats[1][self._t])
        for agent_id in self.agents:
            a = self.agent_dict[agent_id]
            state = a.state
            ex, bv = state.exchange, state.bus_voltages
            infos[agent_id] = {
                "cost": float(a.cost),
                "converged": converged,
                "pf_iterations": iterations,
                "v_min": float(bv.v_min),
                "v_max": float(bv.v_max),
                "max_line_loading": float(state.line_flows.max_loading),
                "grid_import_MW": float(ex.p_import_MW),
                "total_load_MW": float(ex.total_load_MW),
                "price": float(ex.price),
                "grid_cost": float(a.grid_cost),
                "hour": hour,
            }
        if self._settlement is not None:
            clearing = self._settlement.clearing
            trades = [{"buyer": t.buyer, "seller": t.seller, "MW": t.quantity, "price": t.price}
                      for t in clearing.trades]
            for agent_id in self.agents:
                infos[agent_id].update({
                    "p2p_traded_MW": float(self._settlement.bought.get(agent_id, 0.0)),
                    "p2p_payment": float(self._settlement.payments.get(agent_id, 0.0)),
                    "p2p_clearing_price": clearing.clearing_price,
                    "p2p_trades": trades,
                    "p2p_rejected": [r for o, r in clearing.rejected
                                     if getattr(o, "agent_id", None) == agent_id],
                })
        return infos

    def _truncate_early(self) -> bool:
        """A failed power flow ends the episode (``truncate_on_divergence``)."""
        failed = self._last_result is not None and not self._last_result.converged
        return failed and self.truncate_on_divergence

    def _reward_and_safety(self) -> tuple[dict[str, float], dict[str, float]]:
        """Reward = -cost (and a flat penalty if the power flow failed); safety as is."""
        rewards, safety = {}, {}
        failed = self._last_result is not None and not self._last_result.converged
        for agent_id, agent in self.agent_dict.items():
            rewards[agent_id] = -float(agent.cost) - (self.nonconvergence_penalty if failed else 0.0)
            safety[agent_id] = float(agent.safety)
        return rewards, safety

    # -- observations (heron's execution mode routes them: HeronParallelEnv._observe) ----------
    def state(self) -> np.ndarray:
        """Global state for centralized critics: all grids' observations + DSO exchange."""
        parts = [self.agent_dict[a].observe() for a in self.possible_agents]
        if self.system_agent is not None:
            parts.append(self.system_agent.state.to_array().astype(np.float32))
        return np.concatenate(parts).astype(np.float32)

    def render(self) -> str:
        lines = [f"t={self._t} start_hour={self._start_hour}"]
        for agent_id, a in self.agent_dict.items():
            lines.append(f"  {agent_id}: cost={a.cost:.2f} safety={a.safety:.4f} "
                         f"v=[{a.state.bus_voltages.v_min:.3f}, {a.state.bus_voltages.v_max:.3f}] "
                         f"import={a.state.exchange.p_import_MW:.3f} MW")
        text = "\n".join(lines)
        print(text)
        return text
