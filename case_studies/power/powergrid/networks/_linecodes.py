"""IEEE line codes and their balanced (positive-sequence) equivalents.

Source: the line-code library ``IEEELineCodes.DSS`` shipped with the OpenDSS test
cases of the IEEE PES distribution test feeders (EPRI, BSD-style licence; the
feeders are published by the IEEE PES Distribution System Analysis
Subcommittee, impedances as corrected to Kersting's values on 2010-09-16).
Only the figures are carried over here; the DSS files are not needed at run time.

Why a balanced equivalent
-------------------------
The project's power flow (pandapower / lightsim2grid) is a single-phase
positive-sequence solver, so each phase-impedance matrix ``Z`` (and the
capacitance matrix ``C``) of an *n*-phase line is reduced to one per-phase value:

* three-phase codes: ``z1 = mean(diag Z) - mean(offdiag Z)`` (``Zs - Zm``), the
  exact positive-sequence impedance of a transposed line; same for ``c1`` from the
  Maxwell capacitance matrix (whose off-diagonals are negative, so ``c1 > Cs``).
* the general rule used for all codes is ``z_eff = Zs - (n - 1)/2 * Zm``: for n = 3
  this is ``Zs - Zm``; for a single-phase line it is the self impedance ``Zs``
  (Carson, earth/neutral return included); for two phases carrying currents 120
  degrees apart it is the average drop of both phases, ``Zs - Zm/2``.
* 1- and 2-phase laterals are then carried as *three-phase* lines whose loads are
  balanced over three phases (a single-phase load of P is a balanced 3-phase load
  of P). The per-phase current of the equivalent is ``n/3`` of the real conductor
  current, so the impedance is scaled by ``3/n``, the capacitance by ``n/3`` and
  the ampacity by ``n/3``. With that scaling the equivalent reproduces the real
  lateral's relative voltage drop, its I^2R losses, its charging power and its
  loading percentage exactly (for the lateral's own load).

Ratings
-------
The DSS line codes carry no ``normamps``/``emergamps``, so OpenDSS falls back to
its defaults (400 A normal, 600 A emergency). ``max_i_ka`` uses the 600 A
emergency default per conductor: the normal 400 A would put the head of the
13- and 123-bus feeders above 100 % at nominal load (about 560 A per phase),
while 600 A keeps every line below 100 % at nominal load.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: kilometres per unit of length used in the DSS files
KM_PER_UNIT: dict[str, float] = {
    "km": 1.0,
    "m": 1e-3,
    "kft": 0.3048,
    "ft": 0.3048e-3,
    "mi": 1.609344,
}

#: OpenDSS default emergency rating (A per conductor), used as max_i_ka basis.
DEFAULT_EMERGAMPS_A: float = 600.0


@dataclass(frozen=True)
class LineCode:
    """A DSS line code: lower-triangular phase matrices per unit length.

    ``rmatrix``/``xmatrix`` are in ohm per ``units``; ``cmatrix`` in nF per
    ``c_units`` (defaults to ``units``). ``None`` for ``cmatrix`` means no shunt
    capacitance given.
    """

    name: str
    nphases: int
    rmatrix: tuple[float, ...]
    xmatrix: tuple[float, ...]
    cmatrix: tuple[float, ...] | None
    units: str
    c_units: str | None = None
    ampacity_a: float = DEFAULT_EMERGAMPS_A
    cable: bool = False  # underground cable (pandapower line type "cs") vs overhead


@dataclass(frozen=True)
class LineParams:
    """Per-km parameters of the balanced three-phase equivalent of a line code."""

    r_ohm_per_km: float
    x_ohm_per_km: float
    c_nf_per_km: float
    max_i_ka: float


def full_matrix(lower: tuple[float, ...], n: int) -> np.ndarray:
    """Expand a row-wise lower-triangular DSS matrix into a symmetric n x n array."""
    if len(lower) != n * (n + 1) // 2:
        raise ValueError(f"expected {n * (n + 1) // 2} entries for n={n}, got {len(lower)}")
    m = np.zeros((n, n))
    k = 0
    for i in range(n):
        for j in range(i + 1):
            m[i, j] = m[j, i] = lower[k]
            k += 1
    return m


def effective_value(lower: tuple[float, ...], n: int) -> float:
    """``Zs - (n-1)/2 * Zm``: the per-phase value seen by balanced currents.

    For n = 3 this is the positive-sequence value ``mean(diag) - mean(offdiag)``.
    """
    m = full_matrix(lower, n)
    diag = float(np.mean(np.diag(m)))
    if n == 1:
        return diag
    off = float(np.mean(m[~np.eye(n, dtype=bool)]))
    return diag - (n - 1) / 2.0 * off


def balanced_parameters(code: LineCode) -> LineParams:
    """Per-km r, x, c and max_i_ka of the balanced three-phase equivalent of ``code``."""
    n = code.nphases
    per_km = 1.0 / KM_PER_UNIT[code.units]
    scale = 3.0 / n  # see module docstring: equivalent of an n-phase lateral
    r = effective_value(code.rmatrix, n) * per_km * scale
    x = effective_value(code.xmatrix, n) * per_km * scale
    if code.cmatrix is None:
        c = 0.0
    else:
        c_per_km = 1.0 / KM_PER_UNIT[code.c_units or code.units]
        c = effective_value(code.cmatrix, n) * c_per_km / scale
    return LineParams(r, x, c, code.ampacity_a * 1e-3 / scale)


def _code(
    name: str, n: int, r: str, x: str, c: str | None, units: str = "kft", cable: bool = False
) -> LineCode:
    def parse(s: str) -> tuple[float, ...]:
        return tuple(float(v) for v in s.split())

    return LineCode(
        name, n, parse(r), parse(x), None if c is None else parse(c), units, cable=cable
    )


#: Line codes of ``IEEELineCodes.DSS`` used by the 13-, 34- and 123-bus feeders
#: (ohm and nF per kft, lower triangle row by row, current "corrected" values).
IEEE_LINECODES: dict[str, LineCode] = {
    c.name: c
    for c in (
        # 123-bus overhead configurations 1-11 and underground 12
        _code(
            "1",
            3,
            "0.086666667 0.029545455 0.088371212 0.02907197 0.029924242 0.087405303",
            "0.204166667 0.095018939 0.198522727 0.072897727 0.080227273 0.201723485",
            "2.851710072 -0.920293787 3.004631862 -0.350755566 -0.585011253 2.71134756",
        ),
        _code(
            "2",
            3,
            "0.088371212 0.02992424 0.087405303 0.029545455 0.02907197 0.086666667",
            "0.198522727 0.080227273 0.201723485 0.095018939 0.072897727 0.204166667",
            "3.004631862 -0.585011253 2.71134756 -0.920293787 -0.350755566 2.851710072",
        ),
        _code(
            "3",
            3,
            "0.087405303 0.02907197 0.086666667 0.029924242 0.029545455 0.088371212",
            "0.201723485 0.072897727 0.204166667 0.080227273 0.095018939 0.198522727",
            "2.71134756 -0.350755566 2.851710072 -0.585011253 -0.920293787 3.004631862",
        ),
        _code(
            "4",
            3,
            "0.087405303 0.029924242 0.088371212 0.02907197 0.029545455 0.086666667",
            "0.201723485 0.080227273 0.198522727 0.072897727 0.095018939 0.204166667",
            "2.71134756 -0.585011253 3.004631862 -0.350755566 -0.920293787 2.851710072",
        ),
        _code(
            "5",
            3,
            "0.088371212 0.029545455 0.086666667 0.029924242 0.02907197 0.087405303",
            "0.198522727 0.095018939 0.204166667 0.080227273 0.072897727 0.201723485",
            "3.004631862 -0.920293787 2.851710072 -0.585011253 -0.350755566 2.71134756",
        ),
        _code(
            "6",
            3,
            "0.086666667 0.02907197 0.087405303 0.029545455 0.029924242 0.088371212",
            "0.204166667 0.072897727 0.201723485 0.095018939 0.080227273 0.198522727",
            "2.851710072 -0.350755566 2.71134756 -0.920293787 -0.585011253 3.004631862",
        ),
        _code(
            "7",
            2,
            "0.086666667 0.02907197 0.087405303",
            "0.204166667 0.072897727 0.201723485",
            "2.569829596 -0.52995137 2.597460011",
        ),
        _code(
            "8",
            2,
            "0.086666667 0.02907197 0.087405303",
            "0.204166667 0.072897727 0.201723485",
            "2.569829596 -0.52995137 2.597460011",
        ),
        _code("9", 1, "0.251742424", "0.255208333", "2.270366128"),
        _code("10", 1, "0.251742424", "0.255208333", "2.270366128"),
        _code("11", 1, "0.251742424", "0.255208333", "2.270366128"),
        _code(
            "12",
            3,
            "0.288049242 0.09844697 0.29032197 0.093257576 0.09844697 0.288049242",
            "0.142443182 0.052556818 0.135643939 0.040852273 0.052556818 0.142443182",
            "33.77150149 0 33.77150149 0 0 33.77150149",
            cable=True,
        ),
        # 34-bus configurations 300-304
        _code(
            "300",
            3,
            "0.253181818 0.039791667 0.250719697 0.040340909 0.039128788 0.251780303",
            "0.252708333 0.109450758 0.256988636 0.094981061 0.086950758 0.255132576",
            "2.680150309 -0.769281006 2.5610381 -0.499507676 -0.312072984 2.455590387",
        ),
        _code(
            "301",
            3,
            "0.365530303 0.04407197 0.36282197 0.04467803 0.043333333 0.363996212",
            "0.267329545 0.122007576 0.270473485 0.107784091 0.099204545 0.269109848",
            "2.572492163 -0.72160598 2.464381882 -0.472329395 -0.298961096 2.368881119",
        ),
        _code("302", 1, "0.530208", "0.281345", "2.12257"),
        _code("303", 1, "0.530208", "0.281345", "2.12257"),
        _code("304", 1, "0.363958", "0.269167", "2.1922"),
        # 13-bus configurations 601-607 (the 13-bus DSS file's inline mtx60x codes
        # have identical R and X, in ohm/mile, but omit most capacitances)
        _code(
            "601",
            3,
            "0.065625 0.029545455 0.063920455 0.029924242 0.02907197 0.064659091",
            "0.192784091 0.095018939 0.19844697 0.080227273 0.072897727 0.195984848",
            "3.164838036 -1.002632425 2.993981593 -0.632736516 -0.372608713 2.832670203",
        ),
        _code(
            "602",
            3,
            "0.142537879 0.029924242 0.14157197 0.029545455 0.02907197 0.140833333",
            "0.22375 0.080227273 0.226950758 0.095018939 0.072897727 0.229393939",
            "2.863013423 -0.543414918 2.602031589 -0.8492585 -0.330962141 2.725162768",
        ),
        _code(
            "603",
            2,
            "0.251780303 0.039128788 0.250719697",
            "0.255132576 0.086950758 0.256988636",
            "2.366017603 -0.452083836 2.343963508",
        ),
        _code(
            "604",
            2,
            "0.250719697 0.039128788 0.251780303",
            "0.256988636 0.086950758 0.255132576",
            "2.343963508 -0.452083836 2.366017603",
        ),
        _code("605", 1, "0.251742424", "0.255208333", "2.270366128"),
        _code(
            "606",
            3,
            "0.151174242 0.060454545 0.149450758 0.053958333 0.060454545 0.151174242",
            "0.084526515 0.006212121 0.076534091 -0.002708333 0.006212121 0.084526515",
            "48.67459408 0 48.67459408 0 0 48.67459408",
            cable=True,
        ),
        _code("607", 1, "0.254261364", "0.097045455", "44.70661522", cable=True),
    )
}
