"""IEEE 123-node test feeder as a balanced (positive-sequence) pandapower net.

Source: ``IEEE123Master.dss``, ``IEEE123Loads.DSS``, ``IEEE123Regulators.DSS``,
``IEEE123Switches.dss`` and ``IEEELineCodes.DSS`` of the OpenDSS test cases (EPRI,
BSD-style licence) for the IEEE PES 123-node test feeder (IEEE PES Distribution
System Analysis Subcommittee). The figures are carried into this module; the DSS
files are not read at run time.

Model (shared rules in :mod:`._builder` and :mod:`._linecodes`):

* 130 buses: nodes 1-114 and 135, 149, 150, 151, 152, 160, 197, 250, 300, 450
  and 610 of the feeder, the regulator outputs ``150r``, ``9r``, ``25r`` and
  ``160r``, and ``61s`` (the switched side of Sw6 feeding XFM1).
* Source: ext_grid at node 150 (4.16 kV) at 1.0 pu (a stiff source in the DSS
  file); ``heron["source_bus"]`` is node 150.
* Regulators: ``reg1`` ganged three-phase at the head (150 -> 150r, CT 700 A),
  ``reg2`` phase A (9 -> 9r, CT 50 A), ``reg3`` phases A and C (25 -> 25r, CT
  50 A), ``reg4`` three-phase (160 -> 160r, CT 300 A), with the DSS files'
  near-zero impedances. ``tap_pos`` = mean of the published per-phase taps:
  reg1 7/7/7 -> 7, reg2 -1, reg3 0/-1 -> -0.5, reg4 8/1/5 -> 4.67.
* ``XFM1`` 150 kVA 4.16/0.48 kV (delta-delta) between 61s and 610.
* Lines: the 118 line segments (configurations 1-12 of the IEEE line-code library,
  1- and 2-phase laterals as balanced equivalents).
* Switches: the six normally closed switches Sw1-Sw6 are very short lines in
  service; the two normally open tie switches are very short lines out of
  service, Sw7 between 151 and 300 and Sw8 between 54 and 94 (the topology of
  ``IEEE123Switches.dss``, rather than the dummy ``300_OPEN``/``94_OPEN`` buses of
  the master file). Close a tie by setting ``line.in_service``; their indices
  are in ``net["heron"]["open_switch_lines"]``.
* Loads: the 91 DSS loads (85 spot loads, the unbalanced three-phase ones at 65
  and 76 split per phase as in the DSS file; 3490 kW, 1920 kvar), spread over
  three phases, constant power. The feeder has no distributed loads.
* Capacitors: C83 (600 kvar) and the single-phase C88a, C90b, C92c (50 kvar each)
  as balanced shunts.
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
from ._linecodes import IEEE_LINECODES

_LINES = """
    L115  149  1    1   0.4
    L1    1    2    10  0.175
    L2    1    3    11  0.25
    L3    1    7    1   0.3
    L4    3    4    11  0.2
    L5    3    5    11  0.325
    L6    5    6    11  0.25
    L7    7    8    1   0.2
    L8    8    12   10  0.225
    L9    8    9    9   0.225
    L10   8    13   1   0.3
    L11   9r   14   9   0.425
    L12   13   34   11  0.15
    L13   13   18   2   0.825
    L14   14   11   9   0.25
    L15   14   10   9   0.25
    L16   15   16   11  0.375
    L17   15   17   11  0.35
    L18   18   19   9   0.25
    L19   18   21   2   0.3
    L20   19   20   9   0.325
    L21   21   22   10  0.525
    L22   21   23   2   0.25
    L23   23   24   11  0.55
    L24   23   25   2   0.275
    L25   25r  26   7   0.35
    L26   25   28   2   0.2
    L27   26   27   7   0.275
    L28   26   31   11  0.225
    L29   27   33   9   0.5
    L30   28   29   2   0.3
    L31   29   30   2   0.35
    L32   30   250  2   0.2
    L33   31   32   11  0.3
    L34   34   15   11  0.1
    L35   35   36   8   0.65
    L36   35   40   1   0.25
    L37   36   37   9   0.3
    L38   36   38   10  0.25
    L39   38   39   10  0.325
    L40   40   41   11  0.325
    L41   40   42   1   0.25
    L42   42   43   10  0.5
    L43   42   44   1   0.2
    L44   44   45   9   0.2
    L45   44   47   1   0.25
    L46   45   46   9   0.3
    L47   47   48   4   0.15
    L48   47   49   4   0.25
    L49   49   50   4   0.25
    L50   50   51   4   0.25
    L51   51   151  4   0.5
    L52   52   53   1   0.2
    L53   53   54   1   0.125
    L54   54   55   1   0.275
    L55   54   57   3   0.35
    L56   55   56   1   0.275
    L57   57   58   10  0.25
    L58   57   60   3   0.75
    L59   58   59   10  0.25
    L60   60   61   5   0.55
    L61   60   62   12  0.25
    L62   62   63   12  0.175
    L63   63   64   12  0.35
    L64   64   65   12  0.425
    L65   65   66   12  0.325
    L66   67   68   9   0.2
    L67   67   72   3   0.275
    L68   67   97   3   0.25
    L69   68   69   9   0.275
    L70   69   70   9   0.325
    L71   70   71   9   0.275
    L72   72   73   11  0.275
    L73   72   76   3   0.2
    L74   73   74   11  0.35
    L75   74   75   11  0.4
    L76   76   77   6   0.4
    L77   76   86   3   0.7
    L78   77   78   6   0.1
    L79   78   79   6   0.225
    L80   78   80   6   0.475
    L81   80   81   6   0.175
    L82   81   82   6   0.25
    L83   81   84   11  0.675
    L84   82   83   6   0.25
    L85   84   85   11  0.475
    L86   86   87   6   0.45
    L87   87   88   9   0.175
    L88   87   89   6   0.275
    L89   89   90   10  0.25
    L90   89   91   6   0.225
    L91   91   92   11  0.3
    L92   91   93   6   0.225
    L93   93   94   9   0.275
    L94   93   95   6   0.3
    L95   95   96   10  0.2
    L96   97   98   3   0.275
    L97   98   99   3   0.55
    L98   99   100  3   0.3
    L99   100  450  3   0.8
    L118  197  101  3   0.25
    L100  101  102  11  0.225
    L101  101  105  3   0.275
    L102  102  103  11  0.325
    L103  103  104  11  0.7
    L104  105  106  10  0.225
    L105  105  108  3   0.325
    L106  106  107  10  0.575
    L107  108  109  9   0.45
    L108  108  300  3   1
    L109  109  110  9   0.3
    L110  110  111  9   0.575
    L111  110  112  9   0.125
    L112  112  113  9   0.525
    L113  113  114  9   0.325
    L114  135  35   4   0.375
    L116  152  52   1   0.4
    L117  160r 67   6   0.35
"""  # name, from, to, code, length in kft

_LOADS = """
    S1a    1    40.0 20.0
    S2b    2    20.0 10.0
    S4c    4    40.0 20.0
    S5c    5    20.0 10.0
    S6c    6    40.0 20.0
    S7a    7    20.0 10.0
    S9a    9    40.0 20.0
    S10a   10   20.0 10.0
    S11a   11   40.0 20.0
    S12b   12   20.0 10.0
    S16c   16   40.0 20.0
    S17c   17   20.0 10.0
    S19a   19   40.0 20.0
    S20a   20   40.0 20.0
    S22b   22   40.0 20.0
    S24c   24   40.0 20.0
    S28a   28   40.0 20.0
    S29a   29   40.0 20.0
    S30c   30   40.0 20.0
    S31c   31   20.0 10.0
    S32c   32   20.0 10.0
    S33a   33   40.0 20.0
    S34c   34   40.0 20.0
    S35a   35   40.0 20.0
    S37a   37   40.0 20.0
    S38b   38   20.0 10.0
    S39b   39   20.0 10.0
    S41c   41   20.0 10.0
    S42a   42   20.0 10.0
    S43b   43   40.0 20.0
    S45a   45   20.0 10.0
    S46a   46   20.0 10.0
    S47    47   105.0 75.0
    S48    48   210.0 150.0
    S49a   49   35.0 25.0
    S49b   49   70.0 50.0
    S49c   49   35.0 20.0
    S50c   50   40.0 20.0
    S51a   51   20.0 10.0
    S52a   52   40.0 20.0
    S53a   53   40.0 20.0
    S55a   55   20.0 10.0
    S56b   56   20.0 10.0
    S58b   58   20.0 10.0
    S59b   59   20.0 10.0
    S60a   60   20.0 10.0
    S62c   62   40.0 20.0
    S63a   63   40.0 20.0
    S64b   64   75.0 35.0
    S65a   65   35.0 25.0
    S65b   65   35.0 25.0
    S65c   65   70.0 50.0
    S66c   66   75.0 35.0
    S68a   68   20.0 10.0
    S69a   69   40.0 20.0
    S70a   70   20.0 10.0
    S71a   71   40.0 20.0
    S73c   73   40.0 20.0
    S74c   74   40.0 20.0
    S75c   75   40.0 20.0
    S76a   76   105.0 80.0
    S76b   76   70.0 50.0
    S76c   76   70.0 50.0
    S77b   77   40.0 20.0
    S79a   79   40.0 20.0
    S80b   80   40.0 20.0
    S82a   82   40.0 20.0
    S83c   83   20.0 10.0
    S84c   84   20.0 10.0
    S85c   85   40.0 20.0
    S86b   86   20.0 10.0
    S87b   87   40.0 20.0
    S88a   88   40.0 20.0
    S90b   90   40.0 20.0
    S92c   92   40.0 20.0
    S94a   94   40.0 20.0
    S95b   95   20.0 10.0
    S96b   96   20.0 10.0
    S98a   98   40.0 20.0
    S99b   99   40.0 20.0
    S100c  100  40.0 20.0
    S102c  102  20.0 10.0
    S103c  103  40.0 20.0
    S104c  104  40.0 20.0
    S106b  106  40.0 20.0
    S107b  107  40.0 20.0
    S109a  109  40.0 20.0
    S111a  111  20.0 10.0
    S112a  112  20.0 10.0
    S113a  113  40.0 20.0
    S114a  114  20.0 10.0
"""  # name, bus, kW, kvar

_KV_LN = 4.16 / 3**0.5

SPEC = FeederSpec(
    feeder="ieee123",
    source_node="150",
    source_kv=4.16,
    source_vm_pu=1.0,
    source_va_degree=0.0,
    head_node="150",
    linecodes=IEEE_LINECODES,
    lines=tuple(LineSpec(n, f, t, c, float(length), "kft") for n, f, t, c, length in rows(_LINES)),
    loads=tuple(LoadSpec(n, bus, float(p), float(q)) for n, bus, p, q in rows(_LOADS)),
    switches=(
        SwitchSpec("Sw1", "150r", "149", closed=True),
        SwitchSpec("Sw2", "13", "152", closed=True),
        SwitchSpec("Sw3", "18", "135", closed=True),
        SwitchSpec("Sw4", "60", "160", closed=True),
        SwitchSpec("Sw5", "97", "197", closed=True),
        SwitchSpec("Sw6", "61", "61s", closed=True),
        SwitchSpec("Sw7", "151", "300", closed=False),
        SwitchSpec("Sw8", "54", "94", closed=False),
    ),
    trafos=(TrafoSpec("XFM1", "61s", "610", 150.0, 4.16, 0.48, 2.72, 1.27),),
    regulators=(
        RegulatorSpec(
            "reg1",
            "150",
            "150r",
            kv_ln=_KV_LN,
            ct_primary_a=700.0,
            nphases=3,
            x_percent=0.001,
            r_percent=0.00001,
            published_taps=(7, 7, 7),
        ),
        RegulatorSpec(
            "reg2",
            "9",
            "9r",
            kv_ln=2.402,
            ct_primary_a=50.0,
            nphases=1,
            x_percent=0.01,
            r_percent=0.00001,
            published_taps=(-1,),
        ),
        RegulatorSpec(
            "reg3",
            "25",
            "25r",
            kv_ln=2.402,
            ct_primary_a=50.0,
            nphases=2,
            x_percent=0.01,
            r_percent=0.00001,
            published_taps=(0, -1),
        ),
        RegulatorSpec(
            "reg4",
            "160",
            "160r",
            kv_ln=2.402,
            ct_primary_a=300.0,
            nphases=3,
            x_percent=0.01,
            r_percent=0.00001,
            published_taps=(8, 1, 5),
        ),
    ),
    capacitors=(
        CapacitorSpec("C83", "83", 600.0),
        CapacitorSpec("C88a", "88", 50.0),
        CapacitorSpec("C90b", "90", 50.0),
        CapacitorSpec("C92c", "92", 50.0),
    ),
)


def IEEE123Bus(name: str = "") -> pp.pandapowerNet:
    """Return a new balanced pandapower net of the IEEE 123-node test feeder.

    Bus names are ``"{name} Bus {node}"`` (``"Bus {node}"`` if ``name`` is empty),
    ``bus.zone`` is ``name`` and ``net["heron"]`` holds the metadata
    (``source_bus`` = index of node 150, ``open_switch_lines`` = Sw7, Sw8).
    """
    return build_feeder(SPEC, name)
