"""IEEE 34-node test feeder as a balanced (positive-sequence) pandapower net.

Source: ``ieee34Mod1.dss`` and ``IEEELineCodes.DSS`` of the OpenDSS test cases
(EPRI, BSD-style licence) for the IEEE PES 34-node test feeder (IEEE PES
Distribution System Analysis Subcommittee), the standard "Mod 1" variant with its
two regulators. The figures are carried into this module; the DSS files are not
read at run time.

Model (shared rules in :mod:`._builder` and :mod:`._linecodes`):

* 37 buses: the 34 feeder nodes, the 69 kV ``sourcebus`` and the regulator
  outputs ``814r`` and ``852r`` (the published RG10 and RG11).
* Source: ext_grid at ``sourcebus`` (69 kV) at 1.05 pu (``pu=1.05`` in the DSS
  file; the published results start at 1.05 pu at node 800). The substation
  transformer ``SubXF`` (25 MVA 69/24.9 kV, Dyn, 30 deg) has the DSS file's
  "very stiff" impedance (XHL 0.01 %); ``heron["source_bus"]`` is node 800.
* Regulators ``reg1`` (814 -> 814r) and ``reg2`` (852 -> 852r), banks of three
  14.376 kV single-phase units rated at their 100 A CT primary current (4.31
  MVA per bank; the DSS file's 20 MVA units only serve to make them ideal),
  XHL 1 %, OpenDSS default winding resistance (0.2 % each). Published taps
  12/5/5 and 13/11/12 are modelled by their means, ``tap_pos`` 7.33 and 12.
* ``XFM1`` 500 kVA 24.9/4.16 kV between 832 and 888.
* Lines: configurations 300-304 from the IEEE line-code library, including the
  two 10 ft stubs (L7 814r-850, L25 852r-832) of the DSS file.
* Loads: the 68 DSS loads (1769 kW, 1044 kvar). The DSS file already lumps each
  distributed load half at each end of its segment (``D<from>_<to>s*`` at the
  sending, ``...r*`` at the receiving end), which is kept. All loads are spread
  over three phases and held at constant power.
* Capacitors C844 (300 kvar) and C848 (450 kvar) as balanced shunts.

Accuracy: against the published per-phase voltages averaged over the phases
present, the balanced model stays within 2.5 % at every node (1 % at the 24.9 kV nodes)
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
    TrafoSpec,
    build_feeder,
    rows,
)
from ._linecodes import IEEE_LINECODES

_LINES = """
    L1  800  802 300 2.58
    L2  802  806 300 1.73
    L3  806  808 300 32.23
    L4  808  810 303 5.804
    L5  808  812 300 37.5
    L6  812  814 300 29.73
    L7  814r 850 301 0.01
    L8  816  818 302 1.71
    L9  816  824 301 10.21
    L10 818  820 302 48.15
    L11 820  822 302 13.74
    L12 824  826 303 3.03
    L13 824  828 301 0.84
    L14 828  830 301 20.44
    L15 830  854 301 0.52
    L16 832  858 301 4.9
    L17 834  860 301 2.02
    L18 834  842 301 0.28
    L19 836  840 301 0.86
    L20 836  862 301 0.28
    L21 842  844 301 1.35
    L22 844  846 301 3.64
    L23 846  848 301 0.53
    L24 850  816 301 0.31
    L25 852r 832 301 0.01
    L26 854  856 303 23.33
    L27 854  852 301 36.83
    L28 858  864 303 1.62
    L29 858  834 301 5.83
    L30 860  836 301 2.68
    L31 862  838 304 4.86
    L32 888  890 300 10.56
"""  # name, from, to, code, length in kft

_LOADS = """
    S860       860 60.0  48.0
    S840       840 27.0  21.0
    S844       844 405.0 315.0
    S848       848 60.0  48.0
    S830a      830 10.0  5.0
    S830b      830 10.0  5.0
    S830c      830 25.0  10.0
    S890       890 450.0 225.0
    D802_806sb 802 15.0  7.5
    D802_806rb 806 15.0  7.5
    D802_806sc 802 12.5  7.0
    D802_806rc 806 12.5  7.0
    D808_810sb 808 8.0   4.0
    D808_810rb 810 8.0   4.0
    D818_820sa 818 17.0  8.5
    D818_820ra 820 17.0  8.5
    D820_822sa 820 67.5  35.0
    D820_822ra 822 67.5  35.0
    D816_824sb 816 2.5   1.0
    D816_824rb 824 2.5   1.0
    D824_826sb 824 20.0  10.0
    D824_826rb 826 20.0  10.0
    D824_828sc 824 2.0   1.0
    D824_828rc 828 2.0   1.0
    D828_830sa 828 3.5   1.5
    D828_830ra 830 3.5   1.5
    D854_856sb 854 2.0   1.0
    D854_856rb 856 2.0   1.0
    D832_858sa 832 3.5   1.5
    D832_858ra 858 3.5   1.5
    D832_858sb 832 1.0   0.5
    D832_858rb 858 1.0   0.5
    D832_858sc 832 3.0   1.5
    D832_858rc 858 3.0   1.5
    D858_864sb 858 1.0   0.5
    D858_864rb 864 1.0   0.5
    D858_834sa 858 2.0   1.0
    D858_834ra 834 2.0   1.0
    D858_834sb 858 7.5   4.0
    D858_834rb 834 7.5   4.0
    D858_834sc 858 6.5   3.5
    D858_834rc 834 6.5   3.5
    D834_860sa 834 8.0   4.0
    D834_860ra 860 8.0   4.0
    D834_860sb 834 10.0  5.0
    D834_860rb 860 10.0  5.0
    D834_860sc 834 55.0  27.5
    D834_860rc 860 55.0  27.5
    D860_836sa 860 15.0  7.5
    D860_836ra 836 15.0  7.5
    D860_836sb 860 5.0   3.0
    D860_836rb 836 5.0   3.0
    D860_836sc 860 21.0  11.0
    D860_836rc 836 21.0  11.0
    D836_840sa 836 9.0   4.5
    D836_840ra 840 9.0   4.5
    D836_840sb 836 11.0  5.5
    D836_840rb 840 11.0  5.5
    D862_838sb 862 14.0  7.0
    D862_838rb 838 14.0  7.0
    D842_844sa 842 4.5   2.5
    D842_844ra 844 4.5   2.5
    D844_846sb 844 12.5  6.0
    D844_846rb 846 12.5  6.0
    D844_846sc 844 10.0  5.5
    D844_846rc 846 10.0  5.5
    D846_848sb 846 11.5  5.5
    D846_848rb 848 11.5  5.5
"""  # name, bus, kW, kvar

#: OpenDSS default transformer winding resistance is 0.2 % per winding
_REG_R_PERCENT = 0.4

SPEC = FeederSpec(
    feeder="ieee34",
    source_node="sourcebus",
    source_kv=69.0,
    source_vm_pu=1.05,
    source_va_degree=30.0,  # as in the DSS file, so that node 800 is at 0 deg
    head_node="800",
    linecodes=IEEE_LINECODES,
    lines=tuple(LineSpec(n, f, t, c, float(length), "kft") for n, f, t, c, length in rows(_LINES)),
    loads=tuple(LoadSpec(n, bus, float(p), float(q)) for n, bus, p, q in rows(_LOADS)),
    trafos=(
        TrafoSpec("SubXF", "sourcebus", "800", 25000.0, 69.0, 24.9, 0.01, 0.001, 30.0),
        TrafoSpec("XFM1", "832", "888", 500.0, 24.9, 4.16, 4.08, 1.9),
    ),
    regulators=(
        # three 14.376 kV units each, CT primary 100 A, XHL 1 %
        RegulatorSpec(
            "reg1",
            "814",
            "814r",
            kv_ln=14.376,
            ct_primary_a=100.0,
            nphases=3,
            x_percent=1.0,
            r_percent=_REG_R_PERCENT,
            published_taps=(12, 5, 5),
        ),
        RegulatorSpec(
            "reg2",
            "852",
            "852r",
            kv_ln=14.376,
            ct_primary_a=100.0,
            nphases=3,
            x_percent=1.0,
            r_percent=_REG_R_PERCENT,
            published_taps=(13, 11, 12),
        ),
    ),
    capacitors=(CapacitorSpec("C844", "844", 300.0), CapacitorSpec("C848", "848", 450.0)),
    substation_trafos=("SubXF",),
)


def IEEE34Bus(name: str = "") -> pp.pandapowerNet:
    """Return a new balanced pandapower net of the IEEE 34-node test feeder.

    Bus names are ``"{name} Bus {node}"`` (``"Bus {node}"`` if ``name`` is empty),
    e.g. ``IEEE34Bus("DSO")`` has ``"DSO Bus 850"``; ``bus.zone`` is ``name`` and
    ``net["heron"]`` holds the metadata (``source_bus`` = index of node 800).
    """
    return build_feeder(SPEC, name)
