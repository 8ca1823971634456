"""VectorMultiAgentMicrogrids: N independent copies of a setup, stepped as arrays.

When to use it: for throughput (training, large evaluations). The single
:class:`~powergrid.envs.multi_agent_microgrids.MultiAgentMicrogrids` is the reference
and the guide's API; this class reproduces N of them, copy by copy (an equivalence
test ties the two), at a fraction of the cost per env step:

* the device maths are the broadcasting functions of :mod:`powergrid.physics`, applied
  to one array per device type with the copy axis first;
* one batched power flow (:class:`~powergrid.powerflow.batched.BatchedPowerFlow`)
  solves every copy per regulator round; the step-voltage regulators run vectorized
  over copies with the single env's rules;
* observations are assembled from those arrays in exactly the single env's layout
  (including ``pad_spaces`` padding).

API (PettingZoo has no vector API; this follows Gymnasium 1.x ``VectorEnv`` naming)::

    venv = VectorMultiAgentMicrogrids(load_setup("ieee34_ieee13"), num_envs=256)
    obs, infos = venv.reset(seed=0)               # {agent: [N, obs_dim]}
    obs, rewards, terminateds, truncateds, infos = venv.step({agent: actions[N, act_dim]})
    venv.state()                                  # [N, state_dim] for centralised critics
    venv.single_observation_space(agent), venv.single_action_space(agent), venv.num_envs

Autoreset follows Gymnasium 1.x's default ``NEXT_STEP`` mode: the step after a copy's
episode ended resets that copy (its actions are ignored) and returns its first
observation with reward 0 and ``terminated = truncated = False``; ``infos[agent]
["_reset"]`` marks those copies. Seeds: ``reset(seed=s)`` seeds copy ``i`` with
``s + i``, like N single envs reset with those seeds. Training copies start on
independent random days; test copies walk the test days in order, copy ``i`` taking
days ``i, i + N, i + 2N, ...``, so N copies cover every test day once per round.

Devices: the built-in Generator (without commitment), ESS, PV and WindTurbine run as
arrays (exact classes only: a subclass may change their maths). A user's device class
runs as arrays too when it declares ``array_devices``, an
:class:`~powergrid.envs.array_devices.ArrayDevices` subclass with the same maths on
``[N, D]`` arrays: all its instances, in every microgrid and copy, are one group, stepped
with one call per phase. Any other device (a ``DeviceAgent`` subclass written as in the
guide's recipe without array methods, a subclass that inherits but does not re-declare
them, a generator with ``allow_commitment``, an RL-controlled ``Transformer``) runs
through a per-copy fallback: one instance per copy, its own methods called copy by
copy -- correct, slower, with a one-time :class:`PerCopyFallbackWarning` naming the class
and why. Both paths share one plumbing (:class:`_External`: network row, bus, action
columns, observation block, injection/cost/safety columns), and table signs come from
:data:`powergrid.powerflow.base.TABLE_SIGN`. Protocols: ``setpoint`` only;
``price_signal`` and ``p2p`` are refused with a ConfigError that says to use
``MultiAgentMicrogrids``.
"""

from __future__ import annotations

import copy as copy_module
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode

from powergrid import physics
from powergrid.agents.device_agent import ConfigError, capabilities_of
from powergrid.agents.generator import Generator
from powergrid.agents.grid_agent import rated_power
from powergrid.agents.renewables import RenewableGenerator
from powergrid.agents.storage import ESS
from powergrid.envs.array_devices import (
    ArrayDevices,
    ArrayDevicesError,
    array_devices_of,
    has_taps,
)
from powergrid.powerflow.base import TABLE_SIGN

_WARNED: set[type] = set()


class PerCopyFallbackWarning(UserWarning):
    """A device type without array maths is stepped copy by copy (correct, slower)."""


@dataclass
class _External:
    """A device outside the built-in groups: stepped by its class's ``ArrayDevices``
    (``block``/``pos``) or by one instance per copy (``insts``, the fallback). Either
    way its injection, cost and safety live in column ``k`` of the ``ext_*`` arrays."""

    cls: type
    agent: int        # owning microgrid (position)
    kind: str         # pp_element: "sgen" | "storage" | "trafo"
    row: int          # sgen / storage / trafo row
    bus: int          # bus row (terminal voltage)
    act: int          # first action column
    dim: int          # action size
    renewable: bool   # has ``available_power`` (the single env sets it hourly)
    wind: bool
    rated: float
    obs_size: int     # entries of its upper_level observation block
    insts: list[Any] | None = None
    block: int = -1
    pos: int = -1


@dataclass
class _ArrayBlock:
    """One ``ArrayDevices`` over its D devices (all microgrids), copy axis first."""

    cls: type
    maths: ArrayDevices
    cols: np.ndarray       # [D] columns of the ext_* arrays
    act: np.ndarray        # [D, A] action columns
    bus: np.ndarray        # [D] bus rows
    ext: list[_External]
    devices: list[str]     # [D] "microgrid.device", for messages
    trafo_rows: np.ndarray | None = None  # [D] trafo rows of tap changers (taps())

    @property
    def name(self) -> str:
        return f"{self.cls.__module__}.{self.cls.__qualname__}"


@dataclass
class _Group:
    """One device type across all microgrids: parameters [D], state [N, D]."""

    names: list[str] = field(default_factory=list)   # "MG1.gen1"
    agent: list[int] = field(default_factory=list)   # owning microgrid (position)
    row: list[int] = field(default_factory=list)     # sgen / storage row
    bus: list[int] = field(default_factory=list)     # bus row (for v_pu / va_deg)
    act: list[int] = field(default_factory=list)     # column of the p action
    act_q: list[int] = field(default_factory=list)   # column of the q action (-1: none)
    params: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, agent: int, row: int, bus: int, act: int, act_q: int,
            **params: float) -> None:
        self.names.append(name)
        self.agent.append(agent)
        self.row.append(row)
        self.bus.append(bus)
        self.act.append(act)
        self.act_q.append(act_q)
        for k, v in params.items():
            self.params.setdefault(k, []).append(float(v))

    def freeze(self) -> None:
        for k in ("agent", "row", "bus", "act", "act_q"):
            setattr(self, k, np.asarray(getattr(self, k), dtype=np.int64))
        self.params = {k: np.asarray(v, dtype=np.float64) for k, v in self.params.items()}

    def __len__(self) -> int:
        return len(self.names)


class VectorMultiAgentMicrogrids:
    """N copies of :class:`MultiAgentMicrogrids` stepped together (see module doc)."""

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP,
                "name": "vector_multi_agent_microgrids_v0"}

    def __init__(self, env_config: dict[str, Any], num_envs: int, *,
                 parallel: bool = True) -> None:
        from powergrid.envs.multi_agent_microgrids import MultiAgentMicrogrids
        from powergrid.powerflow.batched import BatchedPowerFlow

        if int(num_envs) != num_envs or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}.")
        self.num_envs = n = int(num_envs)
        # one single env is the template: network, agents, first-hour taps, spaces
        self.template = tpl = MultiAgentMicrogrids(
            {**env_config, "centralized": True, "power_flow": {"backend": "lightsim2grid"}})
        self._refuse_unsupported(tpl)
        self.possible_agents = list(tpl.possible_agents)
        self.agents = list(self.possible_agents)
        self.max_episode_steps = tpl.max_episode_steps
        self.penalty, self.share_reward = tpl.penalty, tpl.share_reward
        self.dt, self.train = tpl.dt, tpl.train
        self.nonconvergence_penalty = tpl.nonconvergence_penalty
        self.truncate_on_divergence = tpl.truncate_on_divergence
        self.single_observation_spaces = dict(tpl.observation_spaces)
        self.single_action_spaces = dict(tpl.action_spaces)
        self._native_act = {a: tpl.native_action_spaces[a].shape[0] for a in self.agents}
        self._native_obs = {a: tpl.native_observation_spaces[a].shape[0] for a in self.agents}

        gm = tpl.grid_model
        self.pf = BatchedPowerFlow(tpl._net, n, parallel=parallel)
        self._base_load_p, self._base_load_q = gm.base_load_p.copy(), gm.base_load_q.copy()
        self.load_p = np.tile(self._base_load_p, (n, 1))
        self.load_q = np.tile(self._base_load_q, (n, 1))
        self.sgen_p = np.zeros((n, len(gm.sgen_p)))
        self.sgen_q = np.zeros_like(self.sgen_p)
        self.storage_p = np.zeros((n, len(gm.storage_p)))
        self.storage_q = np.zeros_like(self.storage_p)
        self._initial_taps = gm.initial_taps.copy()
        self.taps = np.tile(self._initial_taps, (n, 1)).astype(np.float64)
        self._build_series(tpl)
        self._build_devices(tpl)
        self._build_grids(tpl)
        self._build_regulators(tpl)
        self._build_observation_plans(tpl)

        self.t = np.zeros(n, dtype=np.int64)
        self.start_hour = np.zeros(n, dtype=np.int64)
        self._done = np.zeros(n, dtype=bool)
        self._rngs = [np.random.default_rng() for _ in range(n)]
        self._episodes = np.zeros(n, dtype=np.int64)
        self._reset_called = False
        #: seconds spent per phase of step() since construction (see bench_vector_env)
        self.timings = {"actions": 0.0, "power_flow": 0.0, "state_sync": 0.0,
                        "observations": 0.0}

    # ------------------------------------------------------------------ building
    @staticmethod
    def _refuse_unsupported(tpl: Any) -> None:
        protocol = tpl.env_config.get("protocol", "setpoint")
        if protocol != "setpoint" or tpl.market is not None:
            raise ConfigError(f"VectorMultiAgentMicrogrids supports protocol 'setpoint' only, "
                              f"got {protocol!r}; use MultiAgentMicrogrids for it.")

    @staticmethod
    def _vectorized(dev: Any) -> bool:
        """Whether ``dev`` runs on the array maths (else: the per-copy fallback)."""
        cls = type(dev)
        if cls is Generator:
            return not dev.config.allow_commitment
        return cls is ESS or (isinstance(dev, RenewableGenerator)
                              and cls.__module__ == "powergrid.agents.renewables")

    def _build_series(self, tpl: Any) -> None:
        self._length = len(tpl.dataset[tpl.split]["load"])
        self._days = self._length // 24
        self._price_series = tpl._series("price", None)
        self._load_series, self._solar_series, self._wind_series = [], [], []
        for agent in tpl.agent_dict.values():
            g = agent._grid_config
            self._load_series.append(tpl._series("load", g.get("load_profile")))
            self._solar_series.append(tpl._series("solar", g.get("solar_profile")))
            self._wind_series.append(tpl._series("wind", g.get("wind_profile")))
        self._dso = tpl.system_agent
        if self._dso is not None:
            dso_cfg = tpl.env_config.get("dso_config", {}) or {}
            self._dso_series = tpl._series("load", dso_cfg.get("load_profile"))

    def _array_maths(self, dev: Any, kind: str) -> tuple[type[ArrayDevices] | None, str]:
        """The device's own ``ArrayDevices`` class, or None and why the fallback runs."""
        cls = type(dev)
        maths = array_devices_of(cls)
        if maths is not None and (kind != "trafo" or has_taps(maths)):
            return maths, ""
        if maths is not None:
            return None, ("its array_devices have no taps() for pp_element 'trafo' "
                          "(see powergrid.envs.array_devices)")
        parent = next((b for b in cls.__mro__[1:] if b.__dict__.get("array_devices")), None)
        if parent is not None:
            return None, (f"it inherits array_devices from {parent.__qualname__} without "
                          "declaring its own (re-declare them if its maths are unchanged)")
        if cls is Generator:
            return None, "allow_commitment has no array maths"
        if isinstance(dev, (Generator, ESS, RenewableGenerator)):
            return None, ("a subclass of a built-in device may change its maths, so the "
                          "built-in array maths are not used (declare array_devices)")
        return None, ("it declares no array_devices (see powergrid.envs.array_devices)")

    def _add_external(self, ai: int, dev: Any, kind: str, row: int, bus: int, col: int,
                      dim: int, pending: dict[tuple, tuple[type, list]]) -> None:
        cls = type(dev)
        maths, why = self._array_maths(dev, kind)
        ext = _External(cls=cls, agent=ai, kind=kind, row=row, bus=bus, act=col, dim=dim,
                        renewable=capabilities_of(dev).curtailable,
                        wind=capabilities_of(dev).source == "wind", rated=rated_power(dev),
                        obs_size=len(dev.state.names("upper_level")))
        if maths is None:
            if cls not in _WARNED:
                _WARNED.add(cls)
                warnings.warn(
                    f"{cls.__module__}.{cls.__qualname__}: {why}; VectorMultiAgentMicrogrids "
                    "steps it copy by copy (correct, slower).",
                    PerCopyFallbackWarning, stacklevel=4)
            ext.insts = [copy_module.deepcopy(dev) for _ in range(self.num_envs)]
        else:  # one block per class (and action / observation size, should those vary)
            key = (cls, kind, dim, ext.obs_size, ext.renewable)
            pending.setdefault(key, (maths, []))[1].append((len(self._ext), dev))
        self._ext.append(ext)

    def _build_blocks(self, pending: dict[tuple, tuple[type, list]]) -> None:
        self._blocks: list[_ArrayBlock] = []
        for maths_cls, members in pending.values():
            exts = [self._ext[k] for k, _ in members]
            maths = maths_cls([dev for _, dev in members], self.num_envs, self.dt)
            for pos, ext in enumerate(exts):
                ext.block, ext.pos = len(self._blocks), pos
            self._blocks.append(_ArrayBlock(
                cls=exts[0].cls, maths=maths, ext=exts,
                cols=np.array([k for k, _ in members], dtype=np.int64),
                act=np.array([[e.act + i for i in range(e.dim)] for e in exts], dtype=np.int64),
                bus=np.array([e.bus for e in exts], dtype=np.int64),
                devices=[f"{self.possible_agents[e.agent]}.{dev.agent_id}"
                         for e, (_, dev) in zip(exts, members, strict=True)],
                trafo_rows=(np.array([e.row for e in exts], dtype=np.int64)
                            if exts[0].kind == "trafo" else None)))

    def _checked(self, b: _ArrayBlock, method: str, value: Any, pair: bool = False,
                 k: int | None = None) -> Any:
        """``value`` as float64 of the shape the contract promises, else a clear error."""
        n, d = self.num_envs, len(b.cols)
        shape = (n, d) if k is None else (n, d, k)
        what = f"{b.name}.array_devices ({type(b.maths).__qualname__}).{method}()"
        if pair:
            if not (isinstance(value, tuple) and len(value) == 2):
                raise ArrayDevicesError(f"{what} must return a pair of [N, D] arrays, got "
                                        f"{type(value).__name__}.")
            return tuple(self._checked(b, method, v) for v in value)
        arr = np.asarray(value, dtype=np.float64)
        if arr.shape != shape:
            dims = "(copies, devices)" if k is None else "(copies, devices, entries)"
            raise ArrayDevicesError(f"{what} returned shape {arr.shape}, expected {shape} "
                                    f"{dims} for {d} device(s) in {n} copies.")
        if not np.isfinite(arr.sum()):  # one pass in the usual, all-finite case
            where = tuple(np.argwhere(~np.isfinite(arr))[0])
            copy, dev = where[:2]
            raise ArrayDevicesError(
                f"{what} returned {float(arr[where])} for device "
                f"{b.devices[int(dev)]!r} in copy {int(copy)}: array maths must give "
                "finite values for every copy (a NaN would reach the power flow).")
        return arr

    def _block_injection(self, b: _ArrayBlock, copies: np.ndarray) -> None:
        """The block's injections, and for tap changers its taps, into the power flow."""
        p, q = self._checked(b, "injection", b.maths.injection(), pair=True)
        rows = np.ix_(copies, b.cols)
        self.ext_p[rows], self.ext_q[rows] = p[copies], q[copies]
        if b.trafo_rows is not None:
            taps = self._checked(b, "taps", b.maths.taps())
            self.taps[np.ix_(copies, b.trafo_rows)] = taps[copies]

    def _build_devices(self, tpl: Any) -> None:
        self._ext: list[_External] = []
        pending: dict[tuple, tuple[type, list]] = {}
        self.gens, self.ess, self.ren = _Group(), _Group(), _Group()
        self._agent_devices: list[list[tuple[str, int]]] = []  # (group, index) per agent
        self._act_offset: list[int] = []
        col = 0
        for ai, agent in enumerate(tpl.agent_dict.values()):
            self._act_offset.append(col)
            rows = {dev.agent_id: (kind, row, bus) for dev, kind, row, bus in agent._dev_rows}
            members: list[tuple[str, int]] = []
            for d, dev in agent.devices.items():
                kind, row, bus = rows[d]
                dim = dev.get_action_space().shape[0]
                c = getattr(dev, "config", None)
                name = f"{agent.agent_id}.{d}"
                if not self._vectorized(dev):
                    members.append(("ext", len(self._ext)))
                    self._add_external(ai, dev, kind, row, bus, col, dim, pending)
                elif capabilities_of(dev).dispatchable:
                    a, b, c0 = (float(x) for x in c.cost_curve_coefs)
                    members.append(("gen", len(self.gens)))
                    self.gens.add(name, ai, row, bus, col, col + 1, p_min=c.p_min_MW,
                                  p_max=c.p_max_MW, q_min=c.q_min_MVAr, q_max=c.q_max_MVAr,
                                  s_rated=c.s_rated_MVA, a=a, b=b, c=c0)
                elif capabilities_of(dev).storage:
                    members.append(("ess", len(self.ess)))
                    self.ess.add(name, ai, row, bus, col, col + 1 if dim > 1 else -1,
                                 p_min=c.p_min_MW, p_max=c.p_max_MW, q_max=c.q_max_MVAr,
                                 soc_min=c.soc_min, soc_max=c.soc_max, init_soc=c.init_soc,
                                 e_cap=c.e_capacity_MWh, ch_eff=c.ch_eff, dsc_eff=c.dsc_eff,
                                 deg=c.degradation_cost_per_MWh)
                else:
                    members.append(("ren", len(self.ren)))
                    tan_phi = float(np.tan(np.arccos(c.pf_min))) if dim > 1 else 0.0
                    self.ren.add(name, ai, row, bus, col, col + 1 if dim > 1 else -1,
                                 p_rated=c.p_rated_MW, curt=c.curtailment_cost_per_MWh,
                                 tan_phi=tan_phi,
                                 wind=1.0 if capabilities_of(dev).source == "wind" else 0.0)
                col += dim
            self._agent_devices.append(members)
        self._n_act = col
        for g in (self.gens, self.ess, self.ren):
            g.freeze()
        n = self.num_envs
        self.gen_p = np.zeros((n, len(self.gens)))
        self.gen_q = np.zeros_like(self.gen_p)
        self.ess_p = np.zeros((n, len(self.ess)))
        self.ess_q = np.zeros_like(self.ess_p)
        self.soc = np.tile(self.ess.params.get("init_soc", np.zeros(0)), (n, 1))
        self.ren_p = np.zeros((n, len(self.ren)))
        self.ren_q = np.zeros_like(self.ren_p)
        self.ren_avail = np.zeros_like(self.ren_p)
        self._build_blocks(pending)
        self._fallback = [e for e in self._ext if e.insts is not None]
        nx = len(self._ext)
        self.ext_p, self.ext_q = np.zeros((n, nx)), np.zeros((n, nx))
        self.ext_cost, self.ext_safety = np.zeros((n, nx)), np.zeros((n, nx))
        self.ext_v, self.ext_va = np.ones((n, nx)), np.zeros((n, nx))
        self._array_obs: list[np.ndarray] = []
        # electrical v/va per device type (observed; kept when a power flow fails)
        self.dev_v = {k: np.ones((n, len(g))) for k, g in self._groups().items()}
        self.dev_va = {k: np.zeros((n, len(g))) for k, g in self._groups().items()}

    def _groups(self) -> dict[str, _Group]:
        return {"gen": self.gens, "ess": self.ess, "ren": self.ren}

    def _build_grids(self, tpl: Any) -> None:
        n = self.num_envs
        self._grids = []
        for agent in tpl.agent_dict.values():
            self._grids.append({
                "load_rows": agent._load_rows, "base_p": agent._base_p, "base_q": agent._base_q,
                "load_scale": agent.load_scale, "bus_rows": agent._bus_rows,
                "line_rows": agent._line_rows, "pcc_row": agent._pcc_row,
                "ext_grid_row": agent._ext_grid_row, "v_limits": agent.v_limits,
                "include_grid_cost": agent.include_grid_cost,
                "sell_price_ratio": agent.sell_price_ratio,
            })
        m = len(self._grids)
        self.vm = [np.ones((n, len(g["bus_rows"]))) for g in self._grids]
        self.v_min = np.ones((n, m))
        self.v_max = np.ones((n, m))
        self.line_p = [np.zeros((n, len(g["line_rows"]))) for g in self._grids]
        self.line_loading = [np.zeros((n, len(g["line_rows"]))) for g in self._grids]
        self.max_loading = np.zeros((n, m))
        self.p_import = np.zeros((n, m))
        self.total_load = np.zeros((n, m))
        self.price = np.zeros(n)
        self.hour = np.zeros(n, dtype=np.int64)
        self.hour_sin = np.zeros(n)
        self.hour_cos = np.ones(n)
        self.cost = np.zeros((n, m))
        self.safety = np.zeros((n, m))
        self.grid_cost = np.zeros((n, m))
        self.converged = np.ones(n, dtype=bool)
        self.iterations = np.zeros(n, dtype=np.int64)
        if self._dso is not None:
            self._dso_rows = self._dso._load_rows
            self._dso_base = (self._dso._base_p, self._dso._base_q)
            self._dso_scale = self._dso.load_scale
            self.dso_import = np.zeros(n)
            self.dso_total = np.zeros(n)

    def _build_regulators(self, tpl: Any) -> None:
        r = tpl.regulators
        self._reg = r
        self._reg_active = r.active
        # per-regulator parameters as arrays once, not on every solve
        self._reg_step = np.asarray(r._step, dtype=np.float64)
        self._reg_sign = np.asarray(r._sign, dtype=np.float64)
        self._reg_tap_min = np.asarray(r._tap_min, dtype=np.float64)
        self._reg_tap_max = np.asarray(r._tap_max, dtype=np.float64)

    # ------------------------------------------------------------------ observations
    def _build_observation_plans(self, tpl: Any) -> None:
        """For each agent, a list of (start, stop, source) filling its observation row."""
        self._plans: list[list[tuple[int, int, Any]]] = []
        for ai, agent in enumerate(tpl.agent_dict.values()):
            names = agent.observation_names()
            plan: list[tuple[int, int, Any]] = []
            i = 0
            external = {d: k for d, (kind, k) in zip(agent.devices, self._agent_devices[ai])
                        if kind == "ext"}
            while i < len(names):
                base = names[i].split("[")[0]
                owner = base.split(".")[0]
                j = i + 1
                if owner in external:  # the device's whole block: its array maths or copies
                    while j < len(names) and names[j].split(".")[0] == owner:
                        j += 1
                    plan.append((i, j, self._external_source(external[owner])))
                    i = j
                    continue
                while j < len(names) and names[j].split("[")[0] == base:
                    j += 1
                plan.append((i, j, self._source(ai, agent, base)))
                i = j
            self._plans.append(plan)
        if self._dso is not None:  # the DSO's state() block, by label as the single env has it
            sources = {"exchange.p_import_MW": lambda: self.dso_import,
                       "exchange.total_load_MW": lambda: self.dso_total,
                       "exchange.price": lambda: self.price,
                       "exchange.hour_sin": lambda: self.hour_sin,
                       "exchange.hour_cos": lambda: self.hour_cos}
            names = self._dso.state.names("owner")
            unknown = [n for n in names if n not in sources]
            if unknown:
                raise ConfigError(f"DSO state {unknown} is not vectorized; use "
                                  "MultiAgentMicrogrids.")
            self._dso_sources = [sources[n] for n in names]

    def _external_source(self, k: int) -> Any:
        ext = self._ext[k]
        if ext.insts is None:  # filled once per observation pass (_observe_blocks)
            return lambda: self._array_obs[ext.block][:, ext.pos]
        insts = ext.insts
        return lambda: np.stack([d.state.to_array("upper_level") for d in insts])

    def _observe_blocks(self) -> None:
        """Every array block's ``observe()``, once per observation or state pass."""
        self._array_obs = [self._checked(b, "observe", b.maths.observe(), k=b.ext[0].obs_size)
                           for b in self._blocks]

    def _source(self, ai: int, agent: Any, base: str) -> Any:
        """A function returning the [N, k] (or [N]) values behind observation label ``base``."""
        parts = base.split(".")
        if parts[0] in agent.devices:
            kind, k = dict(zip(agent.devices, self._agent_devices[ai]))[parts[0]]
            feat = ".".join(parts[1:])
            g = self._groups()[kind]
            const = {"limits.p_max_MW": "p_max", "limits.p_min_MW": "p_min",
                     "limits.q_max_MVAr": "q_max", "limits.q_min_MVAr": "q_min",
                     "storage.e_capacity_MWh": "e_cap", "storage.ch_eff": "ch_eff",
                     "storage.dsc_eff": "dsc_eff", "availability.p_rated_MW": "p_rated"}
            if feat in const:
                value = float(g.params[const[feat]][k])
                return lambda: value
            arrays = {"gen": (self.gen_p, self.gen_q), "ess": (self.ess_p, self.ess_q),
                      "ren": (self.ren_p, self.ren_q)}[kind]
            if feat == "electrical.p_MW":
                return lambda: arrays[0][:, k]
            if feat == "electrical.q_MVAr":
                return lambda: arrays[1][:, k]
            if feat == "electrical.v_pu":
                return lambda: self.dev_v[kind][:, k]
            if feat == "electrical.va_deg":
                return lambda: self.dev_va[kind][:, k]
            if feat == "storage.soc":
                return lambda: self.soc[:, k]
            if feat == "storage.e_stored_MWh":
                cap = float(g.params["e_cap"][k])
                return lambda: self.soc[:, k] * cap
            if feat == "availability.p_available_MW":
                return lambda: self.ren_avail[:, k]
            raise ConfigError(f"observation {agent.agent_id}:{base} is not vectorized.")
        table = {
            "bus_voltages.vm_pu": lambda: self.vm[ai],
            "bus_voltages.v_min": lambda: self.v_min[:, ai],
            "bus_voltages.v_max": lambda: self.v_max[:, ai],
            "line_flows.p_MW": lambda: self.line_p[ai],
            "line_flows.loading_pct": lambda: self.line_loading[ai],
            "line_flows.max_loading": lambda: self.max_loading[:, ai],
            "exchange.p_import_MW": lambda: self.p_import[:, ai],
            "exchange.total_load_MW": lambda: self.total_load[:, ai],
            "exchange.price": lambda: self.price,
            "exchange.hour_sin": lambda: self.hour_sin,
            "exchange.hour_cos": lambda: self.hour_cos,
        }
        if base not in table:
            raise ConfigError(f"observation {agent.agent_id}:{base} is not vectorized.")
        return table[base]

    def _native_observation(self, ai: int) -> np.ndarray:
        a = self.possible_agents[ai]
        out = np.empty((self.num_envs, self._native_obs[a]), dtype=np.float64)
        for start, stop, src in self._plans[ai]:
            v = src()
            out[:, start:stop] = v if np.ndim(v) != 1 else v[:, None]
        return out

    def _observations(self) -> dict[str, np.ndarray]:
        self._observe_blocks()
        obs = {}
        for ai, a in enumerate(self.possible_agents):
            native = self._native_observation(ai).astype(np.float32)
            dim = self.single_observation_spaces[a].shape[0]
            if dim != native.shape[1]:
                padded = np.zeros((self.num_envs, dim), dtype=np.float32)
                padded[:, : native.shape[1]] = native
                native = padded
            obs[a] = native
        return obs

    def state(self) -> np.ndarray:
        """Global state per copy, ``[N, state_dim]``, as the single env's ``state()``."""
        self._observe_blocks()
        parts = [self._native_observation(ai) for ai in range(len(self.possible_agents))]
        if self._dso is not None:
            parts.append(np.stack([src() for src in self._dso_sources], axis=1))
        return np.concatenate(parts, axis=1).astype(np.float32)

    # ------------------------------------------------------------------ spaces
    def single_observation_space(self, agent: str):
        return self.single_observation_spaces[agent]

    def single_action_space(self, agent: str):
        return self.single_action_spaces[agent]

    observation_space = single_observation_space
    action_space = single_action_space

    # ------------------------------------------------------------------ episodes
    def _choose_start(self, copies: np.ndarray) -> None:
        for i in np.flatnonzero(copies):
            if self.train:
                day = int(self._rngs[i].integers(0, self._days))
            else:
                day = int((i + self._episodes[i] * self.num_envs) % self._days)
            self._episodes[i] += 1
            self.start_hour[i] = day * 24

    def _reset_state(self, copies: np.ndarray) -> None:
        """What ``MultiAgentMicrogrids.reset`` does to the copies, before the power flow."""
        self.t[copies] = 0
        self.taps[copies] = self._initial_taps
        for arr in (self.gen_p, self.gen_q, self.ess_p, self.ess_q, self.ren_p, self.ren_q):
            arr[copies] = 0.0
        if len(self.ess):
            self.soc[copies] = self.ess.params["init_soc"]
        for k in self.dev_v:
            self.dev_v[k][copies] = 1.0
            self.dev_va[k][copies] = 0.0
        for ai in range(len(self._grids)):
            self.vm[ai][copies] = 1.0
            self.line_p[ai][copies] = 0.0
            self.line_loading[ai][copies] = 0.0
        self.v_min[copies] = 1.0
        self.v_max[copies] = 1.0
        self.max_loading[copies] = 0.0
        self.p_import[copies] = 0.0
        if self._dso is not None:
            self.dso_import[copies] = 0.0
        self.ext_v[copies], self.ext_va[copies] = 1.0, 0.0
        for b in self._blocks:
            b.maths.reset(copies)
            self._block_injection(b, copies)
        for j, fb in self._fallback_columns():
            for i in np.flatnonzero(copies):
                dev = fb.insts[i]
                dev.reset()
                self.ext_p[i, j], self.ext_q[i, j] = dev.injection()
                if fb.kind == "trafo":
                    self.taps[i, fb.row] = int(dev.state.tap.tap_pos)
        self._choose_start(copies)
        self.pf.reset_warm_start(copies)

    def reset(self, seed: int | None = None, options: dict | None = None):
        """Reset every copy; ``seed`` seeds copy ``i`` with ``seed + i``."""
        if options:
            raise ValueError("VectorMultiAgentMicrogrids.reset takes no options (start days "
                             "come from the seeds in training and in order in test mode).")
        if seed is not None:
            self._rngs = [np.random.default_rng(int(seed) + i) for i in range(self.num_envs)]
            self._episodes[:] = 0
        everything = np.ones(self.num_envs, dtype=bool)
        self._reset_state(everything)
        self._set_exogenous()
        self._write_setpoints()
        self._solve_and_sync(everything)
        self._done[:] = False
        self._reset_called = True
        potential = self.stored_energy_value()
        return self._observations(), {a: {"potential": potential[:, i].copy()}
                                      for i, a in enumerate(self.possible_agents)}

    # ------------------------------------------------------------------ stepping
    def _validate(self, actions: Any) -> np.ndarray:
        """All agents' native actions as one [N, n_act] array (clipped to their spaces)."""
        if not isinstance(actions, dict):
            raise TypeError(f"actions must be a dict {{agent: array[{self.num_envs}, act_dim]}}, "
                            f"got {type(actions).__name__}.")
        unknown = set(actions) - set(self.possible_agents)
        missing = [a for a in self.possible_agents if a not in actions]
        if unknown or missing:
            raise KeyError(f"actions need exactly the agents {self.possible_agents}; "
                           f"missing {missing}, unknown {sorted(unknown)}.")
        out = np.empty((self.num_envs, self._n_act))
        for ai, a in enumerate(self.possible_agents):
            n_native, n_padded = self._native_act[a], self.single_action_spaces[a].shape[0]
            try:
                arr = np.asarray(actions[a], dtype=np.float64)
            except (TypeError, ValueError):
                raise ValueError(f"actions[{a!r}] is not numeric: {actions[a]!r:.80}") from None
            if arr.ndim != 2 or arr.shape[0] != self.num_envs or arr.shape[1] not in (
                    n_native, n_padded):
                raise ValueError(f"actions[{a!r}] must have shape ({self.num_envs}, {n_padded})"
                                 f" (or ({self.num_envs}, {n_native}) unpadded), got {arr.shape}.")
            bad = ~np.isfinite(arr[:, :n_native])
            if bad.any():
                copy, col = (int(x) for x in np.argwhere(bad)[0])
                raise ValueError(f"actions[{a!r}] has NaN/inf: copy {copy}, entry {col} is "
                                 f"{arr[copy, col]}; every entry must be finite in [-1, 1].")
            off = self._act_offset[ai]
            space = self.template.native_action_spaces[a]
            out[:, off:off + n_native] = np.clip(arr[:, :n_native], space.low, space.high)
        return out

    def _set_exogenous(self) -> None:
        idx = (self.start_hour + self.t) % self._length
        self.hour = idx % 24
        self.price = self._price_series[idx]
        ang = 2 * np.pi * self.hour / 24.0
        self.hour_sin, self.hour_cos = np.sin(ang), np.cos(ang)
        wind_pu = np.empty((self.num_envs, len(self.ren)))
        for ai, g in enumerate(self._grids):
            scale = g["load_scale"] * self._load_series[ai][idx]
            rows = g["load_rows"]
            self.load_p[:, rows] = g["base_p"] * scale[:, None]
            self.load_q[:, rows] = g["base_q"] * scale[:, None]
            self.total_load[:, ai] = self.load_p[:, rows].sum(axis=1)
            mine = self.ren.agent == ai
            if mine.any():
                is_wind = self.ren.params["wind"][mine] > 0
                wind_pu[:, mine] = np.where(is_wind, self._wind_series[ai][idx][:, None],
                                            self._solar_series[ai][idx][:, None])
        if len(self.ren):
            self.ren_avail = np.maximum(0.0, wind_pu * self.ren.params["p_rated"])
        for b in self._blocks:
            if b.ext[0].renewable:
                avail = np.empty((self.num_envs, len(b.cols)))
                for pos, e in enumerate(b.ext):
                    series = (self._wind_series if e.wind else self._solar_series)[e.agent]
                    avail[:, pos] = series[idx] * e.rated
                b.maths.set_available(avail)
        for fb in self._fallback:
            if fb.renewable:
                series = (self._wind_series if fb.wind else self._solar_series)[fb.agent]
                for i, pu in enumerate(series[idx].tolist()):
                    fb.insts[i].available_power = float(pu) * fb.rated
        if self._dso is not None:
            s = self._dso_scale * self._dso_series[idx]
            self.load_p[:, self._dso_rows] = self._dso_base[0] * s[:, None]
            self.load_q[:, self._dso_rows] = self._dso_base[1] * s[:, None]
            self.dso_total = self.load_p[:, self._dso_rows].sum(axis=1)

    def _apply_device_actions(self, act: np.ndarray, copies: np.ndarray) -> None:
        """Setpoints of the stepping copies from their actions (physics/: one definition)."""
        g, e, r = self.gens, self.ess, self.ren
        if len(g):
            p, q = physics.generator_setpoint(act[:, g.act], act[:, g.act_q], g.params["p_min"],
                                              g.params["p_max"], g.params["q_min"],
                                              g.params["q_max"], g.params["s_rated"])
            self.gen_p[copies], self.gen_q[copies] = p[copies], q[copies]
        if len(e):
            pr = e.params
            lo, hi = physics.storage_feasible_range(self.soc, pr["soc_min"], pr["soc_max"],
                                                    pr["e_cap"], pr["ch_eff"], pr["dsc_eff"],
                                                    pr["p_min"], pr["p_max"], self.dt)
            p = physics.storage_setpoint(act[:, e.act], pr["p_min"], pr["p_max"], lo, hi)
            q = np.where(e.act_q >= 0, act[:, np.maximum(e.act_q, 0)] * pr["q_max"], 0.0)
            self.ess_p[copies], self.ess_q[copies] = p[copies], q[copies]
        if len(r):
            a_q = np.where(r.act_q >= 0, act[:, np.maximum(r.act_q, 0)], 0.0)
            p, q = physics.renewable_setpoint(act[:, r.act], a_q, self.ren_avail,
                                              r.params["tan_phi"])
            self.ren_p[copies], self.ren_q[copies] = p[copies], q[copies]
        for b in self._blocks:
            b.maths.apply_actions(act[:, b.act], copies)
            self._block_injection(b, copies)
        for j, fb in self._fallback_columns():
            a0, a1 = fb.act, fb.act + fb.dim
            for i in np.flatnonzero(copies):
                dev = fb.insts[i]
                dev.set_device_action(act[i, a0:a1])
                self.ext_p[i, j], self.ext_q[i, j] = dev.injection()
                if fb.kind == "trafo":
                    self.taps[i, fb.row] = int(dev.state.tap.tap_pos)

    def _fallback_columns(self):
        """(column in the ext_* arrays, device) of the per-copy fallback devices."""
        return ((j, e) for j, e in enumerate(self._ext) if e.insts is not None)

    def _write_setpoints(self) -> None:
        """Device injections (generator convention) into the tables, with their signs."""
        if len(self.gens):
            self.sgen_p[:, self.gens.row] = self.gen_p
            self.sgen_q[:, self.gens.row] = self.gen_q
        if len(self.ren):
            self.sgen_p[:, self.ren.row] = self.ren_p
            self.sgen_q[:, self.ren.row] = self.ren_q
        sign = TABLE_SIGN["storage"]  # pandapower books storage as consumption
        if len(self.ess):
            self.storage_p[:, self.ess.row] = sign * self.ess_p
            self.storage_q[:, self.ess.row] = sign * self.ess_q
        tables = {"sgen": (self.sgen_p, self.sgen_q), "storage": (self.storage_p, self.storage_q)}
        for j, ext in enumerate(self._ext):
            if ext.kind in tables:
                p_tab, q_tab = tables[ext.kind]
                p_tab[:, ext.row] = TABLE_SIGN[ext.kind] * self.ext_p[:, j]
                q_tab[:, ext.row] = TABLE_SIGN[ext.kind] * self.ext_q[:, j]

    def _push(self) -> None:
        pf = self.pf
        pf.set_loads(self.load_p, self.load_q)
        if self.sgen_p.shape[1]:
            pf.set_sgens(self.sgen_p, self.sgen_q)
        if self.storage_p.shape[1]:
            pf.set_storages(self.storage_p, self.storage_q)
        pf.set_trafo_taps(self.taps)

    def _solve(self, copies: np.ndarray):
        """Power flow of ``copies`` with the regulators acting (the single env's rules)."""
        self._push()
        ok, it, vm = self.pf.solve_voltages(copies)
        reg = self._reg
        if self._reg_active:
            s = reg.settings
            half = s.bandwidth / 2.0
            running = copies & ok
            rows, bus_rows = reg.rows, reg.bus_rows
            steps_k, sign_k = self._reg_step, self._reg_sign
            tmin, tmax = self._reg_tap_min, self._reg_tap_max
            for _ in range(s.max_iter):
                if not running.any():
                    break
                v = vm[:, bus_rows]
                outside = (np.isfinite(v) & (np.abs(v - s.v_set) > half)).any(axis=1)
                running &= outside
                if not running.any():
                    break
                taps = self.taps[:, rows]
                applied = np.zeros_like(taps)
                moved = np.zeros(self.num_envs)
                for k in reg._order:  # upstream first
                    up = reg.upstream[k]
                    err = s.v_set - v[:, k] - (applied[:, up].sum(axis=1) if up else 0.0)
                    steps = np.round(err / steps_k[k]) * sign_k[k]
                    steps = np.clip(steps, -s.max_steps_per_move, s.max_steps_per_move)
                    new = np.clip(taps[:, k] + steps, tmin[k], tmax[k])
                    change = running & (np.abs(err) > half) & (new != taps[:, k])
                    applied[:, k] = np.where(change, (new - taps[:, k]) * steps_k[k] * sign_k[k],
                                             0.0)
                    moved += np.where(change, np.abs(new - taps[:, k]), 0.0)
                    self.taps[change, rows[k]] = new[change]
                running &= moved > 0
                if not running.any():
                    break
                self.pf.set_trafo_taps(self.taps)
                ok_r, it_r, vm_r = self.pf.solve_voltages(running)
                ok = np.where(running, ok_r, ok)
                it = it + np.where(running, it_r, 0)
                vm = np.where(running[:, None], vm_r, vm)
                running &= ok
        res = self.pf.complete_result()
        return ok, it, res

    def _solve_and_sync(self, copies: np.ndarray) -> None:
        t0 = time.perf_counter()
        ok, it, res = self._solve(copies)
        t1 = time.perf_counter()
        self.timings["power_flow"] += t1 - t0
        conv = ok & copies
        self.converged = np.where(copies, ok, self.converged)
        self.iterations = np.where(copies, it, self.iterations)
        for kind, g in self._groups().items():
            if len(g):
                self.dev_v[kind][conv] = res.vm_pu[np.ix_(conv, g.bus)]
                self.dev_va[kind][conv] = res.va_deg[np.ix_(conv, g.bus)]
        for b in self._blocks:
            rows = np.ix_(conv, b.cols)
            self.ext_v[rows] = res.vm_pu[np.ix_(conv, b.bus)]
            self.ext_va[rows] = res.va_deg[np.ix_(conv, b.bus)]
            b.maths.update_state(self.ext_v[:, b.cols], self.ext_va[:, b.cols], copies)
        for fb in self._fallback:
            for i in np.flatnonzero(copies):
                dev = fb.insts[i]
                if fb.kind != "trafo" and "electrical" in dev.state and conv[i]:
                    dev.state.electrical.v_pu = float(res.vm_pu[i, fb.bus])
                    dev.state.electrical.va_deg = float(res.va_deg[i, fb.bus])
                dev.update_state()
        if len(self.ess):
            pr = self.ess.params
            new_soc = physics.soc_after(self.soc, self.ess_p, pr["e_cap"], pr["ch_eff"],
                                        pr["dsc_eff"], pr["soc_min"], pr["soc_max"], self.dt)
            self.soc[copies] = new_soc[copies]
        for ai, g in enumerate(self._grids):
            self._sync_grid(ai, g, res, conv)
        self._cost_safety(copies)
        if self._dso is not None:
            self.dso_import = np.where(conv, np.nansum(res.ext_grid_p_mw, axis=1),
                                       self.dso_import)
        self.timings["state_sync"] += time.perf_counter() - t1

    def _sync_grid(self, ai: int, g: dict[str, Any], res: Any, conv: np.ndarray) -> None:
        if not conv.any():
            return
        vm = res.vm_pu[:, g["bus_rows"]]
        finite = np.isfinite(vm)
        any_finite = finite.any(axis=1)
        vmin = np.where(any_finite, np.where(finite, vm, np.inf).min(axis=1), 0.0)
        vmax = np.where(any_finite, np.where(finite, vm, -np.inf).max(axis=1), 0.0)
        self.vm[ai][conv] = np.nan_to_num(vm, nan=0.0)[conv]
        self.v_min[conv, ai] = vmin[conv]
        self.v_max[conv, ai] = vmax[conv]
        rows = g["line_rows"]
        if len(rows):
            self.line_p[ai][conv] = res.line_p_from_mw[:, rows][conv]
            loading = res.line_loading_pct[:, rows]
            self.line_loading[ai][conv] = loading[conv]
            self.max_loading[conv, ai] = loading.max(axis=1)[conv]
        if g["pcc_row"] is not None:
            imp = res.trafo_p_hv_mw[:, g["pcc_row"]]
        elif g["ext_grid_row"] is not None:
            imp = res.ext_grid_p_mw[:, g["ext_grid_row"]]
        else:
            losses = np.nansum(res.line_pl_mw[:, rows], axis=1) if len(rows) else 0.0
            imp = self.total_load[:, ai] - self._agent_generation(ai) + losses
        self.p_import[conv, ai] = imp[conv]

    def _agent_generation(self, ai: int) -> np.ndarray:
        """Sum of the agent's device injections, in device order (as the single env adds)."""
        total = np.zeros(self.num_envs)
        arrays = {"gen": self.gen_p, "ess": self.ess_p, "ren": self.ren_p, "ext": self.ext_p}
        for kind, k in self._agent_devices[ai]:
            total = total + arrays[kind][:, k]
        return total

    def _cost_safety(self, copies: np.ndarray) -> None:
        g, e, r = self.gens, self.ess, self.ren
        dt = self.dt
        costs, safety = {}, {}
        if len(g):
            pr = g.params
            costs["gen"] = physics.quadratic_cost(self.gen_p, pr["a"], pr["b"], pr["c"], dt)
            safety["gen"] = physics.generator_safety(self.gen_p, self.gen_q, pr["p_min"],
                                                     pr["p_max"], pr["s_rated"])
        if len(e):
            pr = e.params
            costs["ess"] = physics.storage_degradation_cost(self.ess_p, dt, pr["deg"])
            safety["ess"] = physics.soc_safety(self.soc, pr["soc_min"], pr["soc_max"])
        if len(r):
            pr = r.params
            costs["ren"] = physics.curtailment_cost(self.ren_avail, self.ren_p, pr["curt"], dt)
            safety["ren"] = physics.renewable_safety(self.ren_p, self.ren_avail)
        for b in self._blocks:
            cost, saf = self._checked(b, "cost_safety", b.maths.cost_safety(), pair=True)
            rows = np.ix_(copies, b.cols)
            self.ext_cost[rows], self.ext_safety[rows] = cost[copies], saf[copies]
        for j, fb in self._fallback_columns():
            for i in np.flatnonzero(copies):
                dev = fb.insts[i]
                dev.update_cost_safety()
                self.ext_cost[i, j], self.ext_safety[i, j] = float(dev.cost), float(dev.safety)
        costs["ext"], safety["ext"] = self.ext_cost, self.ext_safety
        failed = ~self.converged
        for ai, grid in enumerate(self._grids):
            cost = np.zeros(self.num_envs)
            saf = np.zeros(self.num_envs)
            for kind, k in self._agent_devices[ai]:
                cost = cost + costs[kind][:, k]
                saf = saf + safety[kind][:, k]
            balance = self.total_load[:, ai] - self._agent_generation(ai)
            self.p_import[:, ai] = np.where(failed & copies, balance, self.p_import[:, ai])
            gc = np.zeros(self.num_envs)
            if grid["include_grid_cost"]:
                gc = physics.energy_cost(self.p_import[:, ai], self.price, dt,
                                         grid["sell_price_ratio"])
                gc = np.where(failed, np.maximum(gc, 0.0), gc)
                cost = cost + gc
            lo, hi = grid["v_limits"]
            v_viol = physics.voltage_violation(self.vm[ai], lo, hi)
            l_viol = physics.line_overload(self.line_loading[ai])
            saf = np.where(failed, saf, saf + v_viol + l_viol)
            self.cost[copies, ai] = cost[copies]
            self.safety[copies, ai] = saf[copies]
            self.grid_cost[copies, ai] = gc[copies] if np.ndim(gc) else gc

    def step(self, actions: dict[str, Any]):
        """Step every copy; copies whose episode ended last step are reset instead."""
        if not self._reset_called:
            raise RuntimeError("call reset() before step().")
        t0 = time.perf_counter()
        act = self._validate(actions)   # before any state changes
        resetting = self._done.copy()
        stepping = ~resetting
        if resetting.any():
            self._reset_state(resetting)
        self._set_exogenous()
        self._apply_device_actions(act, stepping)
        self._write_setpoints()
        self.timings["actions"] += time.perf_counter() - t0
        everything = np.ones(self.num_envs, dtype=bool)
        self._solve_and_sync(everything)
        t2 = time.perf_counter()
        failed = ~self.converged
        self.t[stepping] += 1
        rewards = -self.cost - np.where(failed, self.nonconvergence_penalty, 0.0)[:, None]
        rewards = rewards - self.penalty * self.safety
        if self.share_reward:
            rewards = np.repeat(rewards.mean(axis=1, keepdims=True), rewards.shape[1], axis=1)
        rewards[resetting] = 0.0
        truncated = stepping & ((self.t >= self.max_episode_steps)
                                | (failed & self.truncate_on_divergence))
        self._done = truncated.copy()
        obs = self._observations()
        infos = self._infos(resetting)
        self.timings["observations"] += time.perf_counter() - t2
        names = self.possible_agents
        return (obs, {a: rewards[:, i].copy() for i, a in enumerate(names)},
                {a: np.zeros(self.num_envs, dtype=bool) for a in names},
                {a: truncated.copy() for a in names}, infos)

    def stored_energy_value(self) -> np.ndarray:
        """[N, A]: the energy in each microgrid's batteries (array-run ones) valued at the
        split's mean price, in $ (the mean over microgrids with ``share_reward``).

        Why: reported as ``infos[agent]["potential"]`` for training only. The env pays
        for charging now and credits the discharge hours later; a trainer that adds
        ``gamma * potential' - potential`` to the reward (potential-based shaping,
        ``heron.training`` ``extra={"potential_shaping": True}``) sees the value of
        stored energy when it charges. Potential-based shaping leaves the optimal
        policies unchanged (Ng, Harada and Russell, 1999); rewards, costs and every
        evaluation stay the env's own.
        """
        n, n_agents = self.num_envs, len(self.possible_agents)
        out = np.zeros((n, n_agents))
        if len(self.ess):
            energy = self.soc * self.ess.params["e_cap"]            # [N, D] MWh
            np.add.at(out.T, self.ess.agent, energy.T)
            out *= float(np.mean(self._price_series))
        if self.share_reward:
            out[:] = out.mean(axis=1, keepdims=True)
        return out

    def _infos(self, resetting: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
        infos = {}
        potential = self.stored_energy_value()
        for ai, a in enumerate(self.possible_agents):
            infos[a] = {
                "cost": self.cost[:, ai].copy(), "safety": self.safety[:, ai].copy(),
                "converged": self.converged.copy(), "pf_iterations": self.iterations.copy(),
                "v_min": self.v_min[:, ai].copy(), "v_max": self.v_max[:, ai].copy(),
                "max_line_loading": self.max_loading[:, ai].copy(),
                "grid_import_MW": self.p_import[:, ai].copy(),
                "total_load_MW": self.total_load[:, ai].copy(), "price": self.price.copy(),
                "grid_cost": self.grid_cost[:, ai].copy(),
                "hour": self.hour.astype(np.int64).copy(),  # the hour of this step's data
                "potential": potential[:, ai],
                "_reset": resetting.copy(),
            }
        return infos

    @property
    def tap_pos(self) -> np.ndarray:
        return self.taps.astype(np.int64)

    def close(self) -> None:
        self.template.close()
