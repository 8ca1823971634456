"""Attach a microgrid net to a distribution (DSO) net at a point of common coupling.

The networked-microgrid case study supplies each microgrid (e.g. an IEEE 13-node
feeder) from a node of a DSO feeder (e.g. the IEEE 34-node feeder). Modelling
choices, and why:

* The microgrid's own slack (``ext_grid``) is removed: in the combined net the
  DSO's slack is the only voltage reference, and the microgrid draws from / feeds
  into the DSO through the PCC.
* The microgrid's substation is removed too: builders of this package list the
  buses upstream of the feeder head in ``net["heron"]["substation_buses"]`` (the
  115 kV source bus of the IEEE 13-node feeder and its ``Sub`` transformer). The
  PCC transformer takes its role, so the microgrid is connected at its feeder
  head ``net["heron"]["source_bus"]`` (or, for a net without that metadata, at
  the bus of its only ext_grid).
* If the DSO bus and the microgrid source bus have different nominal voltages,
  they are coupled by a two-winding transformer named ``"{name} PCC"``
  (``pcc_sn_mva``, vk 6 %, vkr 0.5 %, typical of a distribution substation
  transformer of a few MVA, with a +-2 x 2.5 % tap changer at neutral). Buses of
  different voltage levels are never fused.
* If the nominal voltages are equal, a very short low-impedance line named
  ``"{name} PCC"`` is used rather than a bus-bus switch: lightsim2grid ignores
  switches, and ``line.in_service`` can still be used to island the microgrid.
* The nets are merged with :func:`pandapower.toolbox.merge_nets` (pandapower 3
  no longer has ``pp.merge_nets``); the microgrid buses are first renumbered to
  follow the DSO buses contiguously, so bus indices stay 0..n-1 as lightsim2grid
  requires, and bus names/zones are kept as built (e.g. ``"MG1 Bus 650"``).
"""

from __future__ import annotations

import copy
from typing import Any

import pandapower as pp
import pandapower.toolbox as tb

from ._builder import SWITCH_LENGTH_KM, SWITCH_MAX_I_KA, SWITCH_R_OHM, SWITCH_X_OHM

PCC_VK_PERCENT: float = 6.0
PCC_VKR_PERCENT: float = 0.5
PCC_TAP_STEP_PERCENT: float = 2.5
PCC_TAP_MAX: int = 2


def _find_bus(net: pp.pandapowerNet, bus_name: str) -> int:
    matches = net.bus.index[net.bus.name == bus_name]
    if len(matches) == 1:
        return int(matches[0])
    names = [str(n) for n in net.bus.name.tolist()]
    shown = ", ".join(repr(n) for n in names[:12])
    more = f", ... ({len(names)} buses)" if len(names) > 12 else ""
    what = "ambiguous" if len(matches) > 1 else "unknown"
    raise ValueError(f"{what} connection_bus {bus_name!r}; valid bus names: {shown}{more}")


def _microgrid_source(mg: pp.pandapowerNet) -> tuple[int, list[int]]:
    """(source bus, buses upstream of it to drop) of a microgrid net."""
    meta = mg.get("heron") or {}
    if "source_bus" in meta:
        return int(meta["source_bus"]), [int(b) for b in meta.get("substation_buses", [])]
    if len(mg.ext_grid) != 1:
        raise ValueError(
            "microgrid net has no heron['source_bus'] metadata and "
            f"{len(mg.ext_grid)} ext_grids; cannot tell where to connect it"
        )
    return int(mg.ext_grid.bus.iloc[0]), []


def connect_microgrid(
    dso_net: pp.pandapowerNet,
    mg_net: pp.pandapowerNet,
    connection_bus: str,
    name: str,
    pcc_sn_mva: float = 5.0,
) -> dict[str, Any]:
    """Merge ``mg_net`` into ``dso_net`` (in place) and couple it at ``connection_bus``.

    Args:
        dso_net: the distribution net; modified in place.
        mg_net: the microgrid net; not modified (a copy is merged).
        connection_bus: name of the DSO bus, e.g. ``"DSO Bus 850"``.
        name: microgrid name, used for the PCC element (``"{name} PCC"``).
        pcc_sn_mva: rating of the PCC transformer.

    Returns:
        ``{"name", "connection_bus", "source_bus", "pcc_trafo", "pcc_line",
        "bus_map", "element_maps"}``: ``source_bus`` is the microgrid head bus in
        the merged net, exactly one of ``pcc_trafo``/``pcc_line`` is an index (the
        other ``None``), ``bus_map`` maps every kept microgrid bus index to its new
        index, ``element_maps`` the other element types that were renumbered.
        The same dict is stored in ``dso_net["heron"]["microgrids"][name]``.

    Raises:
        ValueError: unknown ``connection_bus`` (the message lists valid names), or
        a microgrid net whose connection point cannot be determined.
    """
    hv_candidate = _find_bus(dso_net, connection_bus)
    mg = copy.deepcopy(mg_net)
    source, upstream = _microgrid_source(mg)

    # the DSO slack is the only reference; the PCC replaces the MG substation
    tb.drop_elements(mg, "ext_grid", mg.ext_grid.index)
    if upstream:
        tb.drop_buses(mg, upstream, drop_elements=True)
    if "heron" in mg:
        del mg["heron"]

    # renumber MG buses to follow the DSO buses contiguously
    start = int(dso_net.bus.index.max()) + 1 if len(dso_net.bus) else 0
    renumber = {int(old): start + i for i, old in enumerate(mg.bus.index)}
    tb.reindex_buses(mg, renumber)
    merged, lookups = tb.merge_nets(
        dso_net,
        mg,
        validate=False,
        merge_results=False,
        std_prio_on_net1=True,
        return_net2_reindex_lookup=True,
        net2_reindex_log_level=None,
    )
    bus_lookup = lookups.get("bus", {})
    bus_map = {old: int(bus_lookup.get(new, new)) for old, new in renumber.items()}
    for key, value in merged.items():
        if not key.startswith("_") and key != "heron":  # keep the DSO metadata object
            dso_net[key] = value

    mg_bus = bus_map[source]
    dso_bus = hv_candidate
    v_dso = float(dso_net.bus.at[dso_bus, "vn_kv"])
    v_mg = float(dso_net.bus.at[mg_bus, "vn_kv"])
    pcc_trafo: int | None = None
    pcc_line: int | None = None
    if abs(v_dso - v_mg) > 1e-9 * max(v_dso, v_mg):
        hv_bus, lv_bus = (dso_bus, mg_bus) if v_dso > v_mg else (mg_bus, dso_bus)
        pcc_trafo = int(
            pp.create_transformer_from_parameters(
                dso_net,
                hv_bus=hv_bus,
                lv_bus=lv_bus,
                sn_mva=pcc_sn_mva,
                vn_hv_kv=max(v_dso, v_mg),
                vn_lv_kv=min(v_dso, v_mg),
                vk_percent=PCC_VK_PERCENT,
                vkr_percent=PCC_VKR_PERCENT,
                pfe_kw=0.0,
                i0_percent=0.0,
                shift_degree=0.0,
                tap_side="hv",
                tap_neutral=0,
                tap_min=-PCC_TAP_MAX,
                tap_max=PCC_TAP_MAX,
                tap_step_percent=PCC_TAP_STEP_PERCENT,
                tap_step_degree=0.0,
                tap_pos=0,
                tap_changer_type="Ratio",
                name=f"{name} PCC",
            )
        )
    else:
        pcc_line = int(
            pp.create_line_from_parameters(
                dso_net,
                dso_bus,
                mg_bus,
                length_km=SWITCH_LENGTH_KM,
                r_ohm_per_km=SWITCH_R_OHM / SWITCH_LENGTH_KM,
                x_ohm_per_km=SWITCH_X_OHM / SWITCH_LENGTH_KM,
                c_nf_per_km=0.0,
                max_i_ka=SWITCH_MAX_I_KA,
                name=f"{name} PCC",
            )
        )

    info: dict[str, Any] = {
        "name": name,
        "connection_bus": dso_bus,
        "source_bus": mg_bus,
        "pcc_trafo": pcc_trafo,
        "pcc_line": pcc_line,
        "bus_map": bus_map,
        "element_maps": {k: dict(v) for k, v in lookups.items() if k != "bus"},
    }
    meta = dso_net.get("heron")
    if isinstance(meta, dict):
        meta.setdefault("microgrids", {})[name] = info
    else:
        dso_net["heron"] = {"microgrids": {name: info}}
    return info
