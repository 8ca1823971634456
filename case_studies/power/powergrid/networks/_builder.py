"""Turn a declarative feeder description into a balanced pandapower net.

The three IEEE feeder modules only hold data (taken from the OpenDSS test cases of
the IEEE PES test feeders, EPRI BSD-style licence); this module holds the shared
modelling rules so that they are applied identically to every feeder:

* **Buses** are numbered in breadth-first order from the source (contiguous
  indices from 0, as lightsim2grid requires) and named ``"{name} Bus {node}"``
  (``"Bus {node}"`` without a name); ``zone`` is the network name. Their nominal
  voltage is propagated from the source through lines and regulators and changes
  only across transformers, so a transformer whose rated voltage does not match
  the voltage level it is connected to is caught at build time.
* **Lines** use the balanced equivalents of :mod:`._linecodes`.
* **Closed switches** become very short low-impedance lines and **open switches**
  the same lines out of service. pandapower ``switch`` elements are avoided
  because lightsim2grid ignores them (an open switch would silently be closed);
  toggling ``line.in_service`` works in both solvers.
* **Transformers** use ``create_transformer_from_parameters`` with the DSS ratings:
  ``vk_percent = |%r_total + j XHL|``, ``vkr_percent = %r_total`` (sum of both
  windings, or ``%LoadLoss``), no iron losses or magnetising current (the DSS
  defaults are zero too), and the OpenDSS default tap range (32 steps of
  0.625 %, +-10 %) on the HV side at neutral. Filled tap fields also spare
  lightsim2grid from guessing (it warns about and zeroes NaN tap data).
* **Voltage regulators** (banks of single-phase step regulators, or a ganged
  three-phase one) become one three-phase transformer between the regulator's
  input and output bus, with an on-load tap changer on the output (``lv``) side:
  +-16 steps of 0.625 % (the standard 32-step, +-10 % regulator); a positive step
  raises the output voltage. ``tap_pos`` is the *mean* of the published per-phase
  tap positions, i.e. the balanced equivalent of the bank (it is not an integer
  where the phases differ, e.g. 9.67 for the 13-node feeder's 10/8/11; pandapower
  and lightsim2grid accept fractional taps, a controller may round). Rating: the
  regcontrol's CT primary current times the unit voltage times the number of
  units (5.04 MVA for the 13-node regulator, as the DSS file's 3 x 1666 kVA; the
  34-node DSS file uses arbitrary 20 MVA units to make its regulators ideal). For
  1- and 2-phase banks this keeps the loading and relative drop of the real bank
  once its lateral's load is balanced over three phases. Impedance: the DSS
  ``XHL`` and ``%LoadLoss`` (or 2 x default 0.2 % winding resistance) on that
  rating, i.e. practically ideal as in the published studies.
* **Initialisation**: such near-ideal regulators deep in a weak feeder defeat a
  flat-start Newton-Raphson (the flat start puts the whole tap mismatch across a
  tiny impedance, and the first step overshoots by about
  ``z_upstream * (tap ratio - 1)^2 / z_regulator``). The single feeders converge
  from a flat start at nominal load, but combined nets (microgrids behind a DSO
  feeder) or extreme tap positions need a tap-aware start:
  :func:`initial_voltages` returns the no-load profile implied by the current
  tap positions and phase shifts, for ``pp.runpp(net, init_vm_pu=vm,
  init_va_degree=va)`` or as ``V0`` of lightsim2grid.
* **Loads** are one pandapower load per DSS ``Load`` object, named by the DSS
  name, ``p_mw``/``q_mvar`` = the DSS kW/kvar (total of its phases), spread
  evenly over three phases. They are constant-power loads: the DSS models
  (constant Z / I for some) are not kept because lightsim2grid has no ZIP
  loads and both solvers should agree.
* **Capacitors** become shunts with ``q_mvar = -kvar/1000`` at the bus voltage.
"""

from __future__ import annotations

import copy
import functools
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandapower as pp

from ._linecodes import KM_PER_UNIT, LineCode, balanced_parameters

#: impedance of a closed switch modelled as a line (total ohms; OpenDSS uses
#: 1e-3 ohm or less for switches, the value only has to be negligible)
SWITCH_R_OHM: float = 1e-3
SWITCH_X_OHM: float = 1e-3
SWITCH_LENGTH_KM: float = 0.001
SWITCH_MAX_I_KA: float = 0.6

#: standard 32-step voltage regulator: +-10 % in 16 steps of 5/8 %
REG_TAP_STEP_PERCENT: float = 0.625
REG_TAP_MAX: int = 16


@dataclass(frozen=True)
class LineSpec:
    name: str
    from_bus: str
    to_bus: str
    code: str
    length: float
    units: str


@dataclass(frozen=True)
class SwitchSpec:
    name: str
    from_bus: str
    to_bus: str
    closed: bool


@dataclass(frozen=True)
class TrafoSpec:
    name: str
    hv_bus: str
    lv_bus: str
    sn_kva: float
    vn_hv_kv: float
    vn_lv_kv: float
    x_percent: float
    r_percent: float  # total of both windings
    shift_degree: float = 0.0


@dataclass(frozen=True)
class RegulatorSpec:
    name: str
    in_bus: str
    out_bus: str
    kv_ln: float  # rated line-to-neutral voltage of one unit
    ct_primary_a: float  # regcontrol CT primary rating = regulator current rating
    nphases: int  # number of regulated phases (units in the bank)
    x_percent: float  # DSS XHL
    r_percent: float  # DSS %LoadLoss (or 2 x %R)
    published_taps: tuple[int, ...]  # per regulated phase, from the feeder report

    @property
    def sn_kva(self) -> float:
        return self.nphases * self.kv_ln * self.ct_primary_a


@dataclass(frozen=True)
class LoadSpec:
    name: str
    bus: str
    kw: float
    kvar: float


@dataclass(frozen=True)
class CapacitorSpec:
    name: str
    bus: str
    kvar: float


@dataclass(frozen=True)
class FeederSpec:
    feeder: str
    source_node: str  # where the ext_grid sits
    source_kv: float
    source_vm_pu: float
    source_va_degree: float
    head_node: str  # main feeder head (where a microgrid is supplied)
    linecodes: dict[str, LineCode]
    lines: tuple[LineSpec, ...]
    loads: tuple[LoadSpec, ...]
    switches: tuple[SwitchSpec, ...] = ()
    trafos: tuple[TrafoSpec, ...] = ()
    regulators: tuple[RegulatorSpec, ...] = ()
    capacitors: tuple[CapacitorSpec, ...] = ()
    substation_trafos: tuple[str, ...] = ()  # trafos upstream of head_node
    extra: dict[str, Any] = field(default_factory=dict)


def rows(table: str) -> list[list[str]]:
    """Split a whitespace table (one record per line, blank lines ignored)."""
    return [line.split() for line in table.strip().splitlines() if line.strip()]


REG_MIN_VK_PERCENT = 0.5


def bus_name(name: str, node: str) -> str:
    """``"{name} Bus {node}"`` or ``"Bus {node}"`` when ``name`` is empty."""
    return f"{name} Bus {node}" if name else f"Bus {node}"


def regulator_tap(published_taps: tuple[int, ...]) -> float:
    """Balanced-equivalent tap: the mean of the published per-phase tap positions."""
    return float(np.mean(published_taps))


def initial_voltages(net: pp.pandapowerNet) -> tuple[np.ndarray, np.ndarray]:
    """Tap-aware no-load start for a power flow: ``(vm_pu, va_degree)`` per bus.

    Propagates each in-service ext_grid's set-point through in-service lines
    (unchanged) and transformers (ratio of rated to bus voltages, current tap
    position, phase shift) breadth-first; unreached buses get 1.0 pu / 0 deg.
    Arrays follow ``net.bus.index`` order, as ``pp.runpp(init_vm_pu=...,
    init_va_degree=...)`` expects. Recompute after changing taps.
    """
    vn = net.bus.vn_kv
    adj: dict[int, list[tuple[int, float, float]]] = {}
    lines = net.line[net.line.in_service.astype(bool)]
    for f, t in zip(lines.from_bus.to_numpy(), lines.to_bus.to_numpy(), strict=True):
        adj.setdefault(int(f), []).append((int(t), 1.0, 0.0))
        adj.setdefault(int(t), []).append((int(f), 1.0, 0.0))
    for tr in net.trafo[net.trafo.in_service.astype(bool)].itertuples():
        hv, lv = int(tr.hv_bus), int(tr.lv_bus)
        ratio = (vn.at[hv] / tr.vn_hv_kv) * (tr.vn_lv_kv / vn.at[lv])  # V_lv/V_hv in pu
        if isinstance(tr.tap_side, str) and np.isfinite(tr.tap_pos):
            neutral = tr.tap_neutral if np.isfinite(tr.tap_neutral) else 0.0
            step = tr.tap_step_percent if np.isfinite(tr.tap_step_percent) else 0.0
            factor = 1.0 + (tr.tap_pos - neutral) * step / 100.0
            ratio = ratio * factor if tr.tap_side == "lv" else ratio / factor
        shift = float(tr.shift_degree) if np.isfinite(tr.shift_degree) else 0.0
        adj.setdefault(hv, []).append((lv, ratio, -shift))
        adj.setdefault(lv, []).append((hv, 1.0 / ratio, shift))
    vm: dict[int, float] = {}
    va: dict[int, float] = {}
    queue: deque[int] = deque()
    for eg in net.ext_grid[net.ext_grid.in_service.astype(bool)].itertuples():
        vm[int(eg.bus)], va[int(eg.bus)] = float(eg.vm_pu), float(eg.va_degree)
        queue.append(int(eg.bus))
    while queue:
        bus = queue.popleft()
        for other, ratio, shift in adj.get(bus, []):
            if other not in vm:
                vm[other], va[other] = vm[bus] * ratio, va[bus] + shift
                queue.append(other)
    idx = [int(i) for i in net.bus.index]
    return (
        np.array([vm.get(i, 1.0) for i in idx]),
        np.array([va.get(i, 0.0) for i in idx]),
    )


def _bus_order_and_voltage(spec: FeederSpec) -> dict[str, float]:
    """Nodes in breadth-first order from the source, with their nominal kV."""
    adj: dict[str, list[tuple[str, float | None, float | None]]] = {}

    def link(a: str, b: str, kv_a: float | None = None, kv_b: float | None = None) -> None:
        # (neighbour, rated kv at this end, rated kv at the neighbour end)
        adj.setdefault(a, []).append((b, kv_a, kv_b))
        adj.setdefault(b, []).append((a, kv_b, kv_a))

    for ln in spec.lines:
        link(ln.from_bus, ln.to_bus)
    for sw in spec.switches:
        link(sw.from_bus, sw.to_bus)
    for rg in spec.regulators:
        link(rg.in_bus, rg.out_bus)
    for tr in spec.trafos:
        link(tr.hv_bus, tr.lv_bus, tr.vn_hv_kv, tr.vn_lv_kv)

    vn: dict[str, float] = {spec.source_node: spec.source_kv}
    queue = deque([spec.source_node])
    while queue:
        node = queue.popleft()
        for other, kv_here, kv_other in adj.get(node, []):
            if kv_here is not None and not np.isclose(kv_here, vn[node]):
                raise ValueError(
                    f"{spec.feeder}: transformer rated {kv_here} kV at node {node} "
                    f"of nominal {vn[node]} kV"
                )
            kv = vn[node] if kv_other is None else kv_other
            if other not in vn:
                vn[other] = kv
                queue.append(other)
            elif not np.isclose(vn[other], kv):
                raise ValueError(f"{spec.feeder}: node {other} reached at {kv} and {vn[other]} kV")
    missing = set(adj) - set(vn)
    if missing:
        raise ValueError(f"{spec.feeder}: nodes not connected to the source: {sorted(missing)}")
    return vn


@functools.lru_cache(maxsize=1)
def _empty_template() -> pp.pandapowerNet:
    """The empty 60 Hz net every feeder starts from; never handed out, only copied."""
    return pp.create_empty_network(f_hz=60.0)


def _empty_net(title: str) -> pp.pandapowerNet:
    """A new empty 60 Hz net; deep-copying the template is ~10x faster than creating one."""
    net = copy.deepcopy(_empty_template())
    net["name"] = title
    return net


def build_feeder(spec: FeederSpec, name: str = "") -> pp.pandapowerNet:
    """Build a fresh pandapower net of ``spec`` (see module docstring for the rules)."""
    net = _empty_net(f"{spec.feeder} {name}".strip())
    vn = _bus_order_and_voltage(spec)
    nodes = list(vn)
    bus_idx = pp.create_buses(
        net,
        len(nodes),
        vn_kv=[vn[n] for n in nodes],
        name=[bus_name(name, n) for n in nodes],
        zone=name,
        type="b",
    )
    b = {node: int(i) for node, i in zip(nodes, bus_idx, strict=True)}

    pp.create_ext_grid(
        net,
        b[spec.source_node],
        vm_pu=spec.source_vm_pu,
        va_degree=spec.source_va_degree,
        name=f"{spec.feeder} source",
    )

    # lines (vectorised create: one call per feeder keeps build time low)
    params = [balanced_parameters(spec.linecodes[ln.code]) for ln in spec.lines]
    line_idx = pp.create_lines_from_parameters(
        net,
        from_buses=[b[ln.from_bus] for ln in spec.lines],
        to_buses=[b[ln.to_bus] for ln in spec.lines],
        length_km=[ln.length * KM_PER_UNIT[ln.units] for ln in spec.lines],
        r_ohm_per_km=[p.r_ohm_per_km for p in params],
        x_ohm_per_km=[p.x_ohm_per_km for p in params],
        c_nf_per_km=[p.c_nf_per_km for p in params],
        max_i_ka=[p.max_i_ka for p in params],
        name=[ln.name for ln in spec.lines],
        type=["cs" if spec.linecodes[ln.code].cable else "ol" for ln in spec.lines],
    )
    lines = {ln.name: int(i) for ln, i in zip(spec.lines, line_idx, strict=True)}

    switches: dict[str, int] = {}
    for sw in spec.switches:
        switches[sw.name] = int(
            pp.create_line_from_parameters(
                net,
                b[sw.from_bus],
                b[sw.to_bus],
                length_km=SWITCH_LENGTH_KM,
                r_ohm_per_km=SWITCH_R_OHM / SWITCH_LENGTH_KM,
                x_ohm_per_km=SWITCH_X_OHM / SWITCH_LENGTH_KM,
                c_nf_per_km=0.0,
                max_i_ka=SWITCH_MAX_I_KA,
                name=sw.name,
                in_service=sw.closed,
            )
        )

    trafos: dict[str, int] = {}
    for tr in spec.trafos:
        trafos[tr.name] = int(
            pp.create_transformer_from_parameters(
                net,
                hv_bus=b[tr.hv_bus],
                lv_bus=b[tr.lv_bus],
                sn_mva=tr.sn_kva / 1000.0,
                vn_hv_kv=tr.vn_hv_kv,
                vn_lv_kv=tr.vn_lv_kv,
                vkr_percent=tr.r_percent,
                vk_percent=float(np.hypot(tr.r_percent, tr.x_percent)),
                pfe_kw=0.0,
                i0_percent=0.0,
                shift_degree=tr.shift_degree,
                # OpenDSS transformer default taps: 32 steps over +-10 %, at neutral
                tap_side="hv",
                tap_neutral=0,
                tap_min=-REG_TAP_MAX,
                tap_max=REG_TAP_MAX,
                tap_step_percent=REG_TAP_STEP_PERCENT,
                tap_step_degree=0.0,
                tap_pos=0,
                tap_changer_type="Ratio",
                name=tr.name,
            )
        )

    regulators: dict[str, dict[str, Any]] = {}
    # A step-voltage regulator's series winding has a real (if small) leakage
    # impedance. The IEEE 13 file gives 0.014 %, which makes the admittance matrix so
    # ill-conditioned that Newton fails after a two-step tap move; 0.5 % is typical
    # of real regulators and moves the published voltages by < 0.3 %.
    for rg in spec.regulators:
        kv = vn[rg.in_bus]
        tap = regulator_tap(rg.published_taps)
        idx = int(
            pp.create_transformer_from_parameters(
                net,
                hv_bus=b[rg.in_bus],
                lv_bus=b[rg.out_bus],
                sn_mva=rg.sn_kva / 1000.0,
                vn_hv_kv=kv,
                vn_lv_kv=kv,
                vkr_percent=rg.r_percent,
                vk_percent=max(float(np.hypot(rg.r_percent, rg.x_percent)), REG_MIN_VK_PERCENT),
                pfe_kw=0.0,
                i0_percent=0.0,
                shift_degree=0.0,
                tap_side="lv",
                tap_neutral=0,
                tap_min=-REG_TAP_MAX,
                tap_max=REG_TAP_MAX,
                tap_step_percent=REG_TAP_STEP_PERCENT,
                tap_step_degree=0.0,
                tap_pos=tap,
                tap_changer_type="Ratio",
                name=rg.name,
            )
        )
        regulators[rg.name] = {
            "trafo": idx,
            "published_taps": rg.published_taps,
            "tap_pos": tap,
        }

    load_idx = pp.create_loads(
        net,
        buses=[b[ld.bus] for ld in spec.loads],
        p_mw=[ld.kw / 1000.0 for ld in spec.loads],
        q_mvar=[ld.kvar / 1000.0 for ld in spec.loads],
        name=[ld.name for ld in spec.loads],
    )
    loads = {ld.name: int(i) for ld, i in zip(spec.loads, load_idx, strict=True)}

    shunts: dict[str, int] = {}
    for cap in spec.capacitors:
        shunts[cap.name] = int(
            pp.create_shunt(
                net,
                b[cap.bus],
                q_mvar=-cap.kvar / 1000.0,
                p_mw=0.0,
                vn_kv=vn[cap.bus],
                name=cap.name,
            )
        )

    head = b[spec.head_node]
    substation_trafos = [trafos[t] for t in spec.substation_trafos]
    substation_buses = sorted({int(net.trafo.at[t, "hv_bus"]) for t in substation_trafos} - {head})
    net["heron"] = {
        "feeder": spec.feeder,
        "name": name,
        "source_bus": head,
        "ext_grid_bus": b[spec.source_node],
        "substation_buses": substation_buses,
        "substation_trafos": substation_trafos,
        "node_to_bus": b,
        "lines": lines,
        "switch_lines": switches,
        "open_switch_lines": [switches[s.name] for s in spec.switches if not s.closed],
        "trafos": trafos,
        "regulators": regulators,
        "loads": loads,
        "shunts": shunts,
        **spec.extra,
    }
    return net
