"""Tests of connect_microgrid: three IEEE 13-node microgrids on the IEEE 34-node DSO.

MG1 and MG2 sit on 24.9 kV DSO buses (850, 860) and get a 24.9/4.16 kV PCC
transformer; MG3 sits on the 4.16 kV DSO bus 890, so its PCC is a short line.
Microgrid loads are scaled by 0.1 (they are mostly self-supplied in the case
study). The combined net is solved from :func:`initial_voltages` (a tap-aware
start): its near-ideal regulators behind the DSO feeder defeat a flat start.
"""

from __future__ import annotations

import copy

import numpy as np
import pandapower as pp
import pytest

from powergrid.networks import IEEE13Bus, IEEE34Bus, connect_microgrid, initial_voltages

CONNECTIONS = {"MG1": "DSO Bus 850", "MG2": "DSO Bus 860", "MG3": "DSO Bus 890"}
MG_SCALE = 0.1


def _microgrid(name: str) -> pp.pandapowerNet:
    net = IEEE13Bus(name)
    net.load["scaling"] = MG_SCALE
    return net


@pytest.fixture(scope="module")
def system() -> tuple[pp.pandapowerNet, dict[str, dict]]:
    dso = IEEE34Bus("DSO")
    infos = {
        name: connect_microgrid(dso, _microgrid(name), bus, name)
        for name, bus in CONNECTIONS.items()
    }
    vm, va = initial_voltages(dso)
    pp.runpp(dso, init_vm_pu=vm, init_va_degree=va)
    return dso, infos


def test_combined_net_converges_with_power_balance(system) -> None:
    dso, _ = system
    assert dso.converged
    p_load = dso.res_load.p_mw.sum()
    expected = 1.769 + 3 * MG_SCALE * 3.466
    assert p_load == pytest.approx(expected, rel=1e-9)  # constant-power loads
    losses = dso.res_line.pl_mw.sum() + dso.res_trafo.pl_mw.sum()
    assert dso.res_ext_grid.p_mw.sum() == pytest.approx(p_load + losses, abs=1e-6)
    assert losses > 0


def test_single_slack_at_dso_source(system) -> None:
    dso, _ = system
    assert len(dso.ext_grid) == 1
    assert dso.bus.name.at[dso.ext_grid.bus.iloc[0]] == "DSO Bus sourcebus"


def test_pcc_transformers_and_line(system) -> None:
    dso, infos = system
    for name in ("MG1", "MG2"):
        info = infos[name]
        assert info["pcc_line"] is None
        trafo = dso.trafo.loc[info["pcc_trafo"]]
        assert trafo["name"] == f"{name} PCC"
        assert (trafo.vn_hv_kv, trafo.vn_lv_kv, trafo.sn_mva) == (24.9, 4.16, 5.0)
        assert dso.bus.name.at[trafo.hv_bus] == CONNECTIONS[name]
        assert dso.bus.name.at[trafo.lv_bus] == f"{name} Bus 650"
        assert dso.bus.vn_kv.at[trafo.hv_bus] == 24.9
        assert dso.bus.vn_kv.at[trafo.lv_bus] == 4.16
        assert abs(dso.res_trafo.p_hv_mw.at[info["pcc_trafo"]]) > 0.1  # it carries the MG
    mg3 = infos["MG3"]
    assert mg3["pcc_trafo"] is None
    line = dso.line.loc[mg3["pcc_line"]]
    assert line["name"] == "MG3 PCC"
    assert dso.bus.name.at[line.from_bus] == "DSO Bus 890"
    assert dso.bus.name.at[line.to_bus] == "MG3 Bus 650"


def test_voltage_levels_never_fused(system) -> None:
    dso, _ = system
    vn = dso.bus.vn_kv
    assert np.allclose(vn.loc[dso.line.from_bus].to_numpy(), vn.loc[dso.line.to_bus].to_numpy())
    assert np.allclose(dso.trafo.vn_hv_kv, vn.loc[dso.trafo.hv_bus].to_numpy())
    assert np.allclose(dso.trafo.vn_lv_kv, vn.loc[dso.trafo.lv_bus].to_numpy())
    # apart from the regulators (tap changers within one level) trafos change level
    is_reg = dso.trafo.name.str.lower().str.startswith("reg")
    assert is_reg.sum() == 2 + 3
    hv = vn.loc[dso.trafo.hv_bus[~is_reg]].to_numpy()
    lv = vn.loc[dso.trafo.lv_bus[~is_reg]].to_numpy()
    assert (hv > lv).all()


def test_microgrid_buses_keep_names_and_zones(system) -> None:
    dso, infos = system
    template = IEEE13Bus("X")
    kept = len(template.bus) - len(template["heron"]["substation_buses"])
    for name in CONNECTIONS:
        mine = dso.bus[dso.bus.zone == name]
        assert len(mine) == kept == 15
        assert mine.name.str.startswith(f"{name} Bus ").all()
        # the MG substation (115 kV source bus and Sub transformer) is replaced by the PCC
        assert f"{name} Bus SourceBus" not in set(dso.bus.name)
        assert infos[name]["source_bus"] == dso.bus.index[dso.bus.name == f"{name} Bus 650"][0]
    assert dso.bus.name.is_unique
    assert list(dso.bus.index) == list(range(len(dso.bus)))  # contiguous for lightsim2grid
    assert len(dso.bus) == 37 + 3 * 15


def test_bus_map_points_to_same_named_buses(system) -> None:
    dso, infos = system
    mg = IEEE13Bus("MG2")
    bus_map = infos["MG2"]["bus_map"]
    assert len(bus_map) == 15
    for old, new in bus_map.items():
        assert dso.bus.name.at[new] == mg.bus.name.at[old]
    assert mg["heron"]["source_bus"] in bus_map
    assert all(b not in bus_map for b in mg["heron"]["substation_buses"])
    assert dso["heron"]["microgrids"]["MG2"] is infos["MG2"]
    assert dso["heron"]["feeder"] == "ieee34"


def test_microgrid_elements_follow_their_buses(system) -> None:
    dso, _ = system
    loads = dso.load[dso.bus.zone.loc[dso.load.bus].to_numpy() == "MG1"]
    assert len(loads) == 15
    assert loads.p_mw.sum() == pytest.approx(3.466)
    assert (loads.scaling == MG_SCALE).all()
    shunt_zones = dso.bus.zone.loc[dso.shunt.bus].tolist()
    assert sorted(shunt_zones) == ["DSO", "DSO", "MG1", "MG1", "MG2", "MG2", "MG3", "MG3"]


def test_microgrid_input_not_modified() -> None:
    dso = IEEE34Bus("DSO")
    mg = _microgrid("MG1")
    before = copy.deepcopy(mg)
    connect_microgrid(dso, mg, "DSO Bus 850", "MG1")
    assert len(mg.ext_grid) == 1 and len(mg.bus) == len(before.bus)
    assert mg.bus.equals(before.bus) and mg.trafo.equals(before.trafo)


def test_unknown_connection_bus_lists_valid_names() -> None:
    dso = IEEE34Bus("DSO")
    n_bus = len(dso.bus)
    with pytest.raises(ValueError, match="DSO Bus 800") as err:
        connect_microgrid(dso, IEEE13Bus("MG1"), "DSO Bus 999", "MG1")
    assert "DSO Bus 999" in str(err.value)
    assert len(dso.bus) == n_bus  # nothing merged


def test_pcc_rating_and_voltage_orientation() -> None:
    dso = IEEE34Bus("DSO")
    info = connect_microgrid(dso, IEEE13Bus("MG"), "DSO Bus 834", "MG", pcc_sn_mva=2.5)
    trafo = dso.trafo.loc[info["pcc_trafo"]]
    assert trafo.sn_mva == 2.5
    assert dso.bus.vn_kv.at[trafo.hv_bus] > dso.bus.vn_kv.at[trafo.lv_bus]
    assert (trafo.tap_min, trafo.tap_neutral, trafo.tap_max, trafo.tap_pos) == (-2, 0, 2, 0)


def test_net_without_metadata_connects_at_its_ext_grid() -> None:
    dso = IEEE34Bus("DSO")
    mg = pp.create_empty_network()
    a = pp.create_bus(mg, 0.4, name="LV A", zone="LV")
    b = pp.create_bus(mg, 0.4, name="LV B", zone="LV")
    pp.create_ext_grid(mg, a)
    pp.create_line_from_parameters(mg, a, b, 0.1, 0.2, 0.1, 0.0, 0.2)
    pp.create_load(mg, b, 0.02, 0.01)
    info = connect_microgrid(dso, mg, "DSO Bus 890", "LV")
    trafo = dso.trafo.loc[info["pcc_trafo"]]
    assert (trafo.vn_hv_kv, trafo.vn_lv_kv) == (4.16, 0.4)
    assert dso.bus.name.at[trafo.lv_bus] == "LV A"
    assert len(dso.ext_grid) == 1
    pp.runpp(dso, init_vm_pu=initial_voltages(dso)[0], init_va_degree=initial_voltages(dso)[1])
    assert dso.res_load.p_mw.iloc[-1] == pytest.approx(0.02)


def test_lightsim2grid_matches_pandapower_on_combined_net(system) -> None:
    network = pytest.importorskip("lightsim2grid.network")
    dso, _ = system
    net = copy.deepcopy(dso)
    model = network.init_from_pandapower(net)
    vm, va = initial_voltages(net)
    v = model.ac_pf((vm * np.exp(1j * np.deg2rad(va))).astype(complex), 30, 1e-10)
    assert len(v) == len(net.bus)
    assert np.allclose(np.abs(v), net.res_bus.vm_pu.to_numpy(), atol=1e-6)
