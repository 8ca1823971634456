"""IEEE 13-node test feeder as a balanced (positive-sequence) pandapower net.

Source: ``IEEE13Nodeckt.dss`` of the OpenDSS test cases (EPRI, BSD-style licence)
for the IEEE PES 13-node test feeder (IEEE PES Distribution System Analysis
Subcommittee). The figures are carried into this module; the DSS file is not
read at run time.

Model (shared rules in :mod:`._builder` and :mod:`._linecodes`):

* 16 buses: the 13 feeder nodes, node 670 (the point 1/3 along 632-671 where the
  DSS file lumps the distributed load of that segment, as the IEEE document
  suggests), the 115 kV ``SourceBus`` and the regulator output ``RG60``.
* Source: ext_grid at ``SourceBus`` (115 kV) at 1.0 pu. The substation
  transformer ``Sub`` (5 MVA 115/4.16 kV, Dyn, 30 deg) keeps the DSS file's
  impedance divided by 1000 because the published results start at 1.0 pu at
  node 650; ``heron["source_bus"]`` is node 650, the feeder head.
* Regulator ``Reg1`` (three single-phase units 650 -> RG60, CT primary 700 A,
  so 5.04 MVA): published taps 10/8/11 steps (1.0625/1.05/1.06875), modelled by
  their mean, ``tap_pos`` 9.67 (+6.04 %).
* ``XFM1`` 500 kVA 4.16/0.48 kV between 633 and 634.
* Lines: configurations 601-605 and 607 from the IEEE line-code library (same
  R and X as the DSS file's inline ``mtx60x`` codes, plus Kersting's
  capacitances that the inline codes omit); 606 uses the DSS file's corrected
  (2016) cable code. The 671-692 switch is a short closed line.
* Loads: the 15 DSS loads (3466 kW, 2102 kvar); the 1- and 2-phase ones are
  spread over three phases, constant power.
* Capacitors: Cap1 600 kvar at 675, Cap2 100 kvar at 611 (as balanced shunts).

Accuracy: against the published (Kersting) per-phase voltages averaged over the
phases present, the balanced model stays within 3 % at every node (0.5 % at the
three-phase nodes; the worst is single-phase node 611)
(see ``tests/networks/test_ieee_feeders.py``).
"""

from __future__ import annotations

import pandapower as pp

from ._builder import (
    CapacitorSpec,
    FeederSpec,
    LineSpec,
    LoadSpec,
    RegulatorSpec,
    SwitchSpec,
    TrafoSpec,
    build_feeder,
    rows,
)
from ._linecodes import IEEE_LINECODES, LineCode

#: corrected (2016) concentric-neutral cable code of the DSS file, ohm and nF per mile
MTX606 = LineCode(
    name="mtx606",
    nphases=3,
    rmatrix=(0.791721, 0.318476, 0.781649, 0.28345, 0.318476, 0.791721),
    xmatrix=(0.438352, 0.0276838, 0.396697, -0.0184204, 0.0276838, 0.438352),
    cmatrix=(383.948, 0.0, 383.948, 0.0, 0.0, 383.948),
    units="mi",
    cable=True,
)

_LINES = """
    650632 RG60 632 601    2000
    632670 632  670 601    667
    670671 670  671 601    1333
    671680 671  680 601    1000
    632633 632  633 602    500
    632645 632  645 603    500
    645646 645  646 603    300
    692675 692  675 mtx606 500
    671684 671  684 604    300
    684611 684  611 605    300
    684652 684  652 607    800
"""  # name, from, to, code, length in ft

_LOADS = """
    671  671 1155 660
    634a 634 160  110
    634b 634 120  90
    634c 634 120  90
    645  645 170  125
    646  646 230  132
    692  692 170  151
    675a 675 485  190
    675b 675 68   60
    675c 675 290  212
    611  611 170  80
    652  652 128  86
    670a 670 17   10
    670b 670 66   38
    670c 670 117  68
"""  # name, bus, kW, kvar

SPEC = FeederSpec(
    feeder="ieee13",
    source_node="SourceBus",
    source_kv=115.0,
    source_vm_pu=1.0,
    source_va_degree=30.0,  # as in the DSS file, so that node 650 is at 0 deg
    head_node="650",
    linecodes={**IEEE_LINECODES, "mtx606": MTX606},
    lines=tuple(LineSpec(n, f, t, c, float(length), "ft") for n, f, t, c, length in rows(_LINES)),
    loads=tuple(LoadSpec(n, bus, float(p), float(q)) for n, bus, p, q in rows(_LOADS)),
    switches=(SwitchSpec("671692", "671", "692", closed=True),),
    trafos=(
        # %r per winding 0.5/1000 -> 0.001 total; XHL 8/1000 (see module docstring)
        TrafoSpec("Sub", "SourceBus", "650", 5000.0, 115.0, 4.16, 0.008, 0.001, 30.0),
        TrafoSpec("XFM1", "633", "634", 500.0, 4.16, 0.48, 2.0, 1.1),
    ),
    regulators=(
        # three 2.4 kV units, CT primary 700 A, XHL 0.01 %, %LoadLoss 0.01
        RegulatorSpec(
            "Reg1",
            "650",
            "RG60",
            kv_ln=2.4,
            ct_primary_a=700.0,
            nphases=3,
            x_percent=0.01,
            r_percent=0.01,
            published_taps=(10, 8, 11),
        ),
    ),
    capacitors=(CapacitorSpec("Cap1", "675", 600.0), CapacitorSpec("Cap2", "611", 100.0)),
    substation_trafos=("Sub",),
)


def IEEE13Bus(name: str = "") -> pp.pandapowerNet:
    """Return a new balanced pandapower net of the IEEE 13-node test feeder.

    Bus names are ``"{name} Bus {node}"`` (``"Bus {node}"`` if ``name`` is empty),
    ``bus.zone`` is ``name`` and ``net["heron"]`` holds the metadata
    (``feeder``, ``name``, ``source_bus`` = index of node 650, element lookups).
    """
    return build_feeder(SPEC, name)
