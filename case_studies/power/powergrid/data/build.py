"""Rebuild the bundled hourly dataset from the profiles shipped in ``simbench``.

Usage::

    python -m powergrid.data.build            # rewrite powergrid/data/simbench_hourly.npz
    python -m powergrid.data.build --check    # exit 1 if the bundled file is out of date

Needs the ``simbench`` package (``pip install heron-marl[data]``) but no network:
the profiles are read from the CSV files inside that package (its "complete
data" folder for scenario 0, i.e. today's grid; the same files
``simbench.get_simbench_net`` reads, which works offline but only returns the
profiles one grid uses). The result is a derivative of the SimBench database
and is licensed under ODbL 1.0; see ``DATA_LICENSE.md``.

Pipeline (everything deterministic; the only randomness is the seeded price noise):

1. Read ``LoadProfile.csv`` (active power ``*_pload`` columns) and
   ``RESProfile.csv``: 35 136 quarter-hours of 2016 (a leap year, 366 days).
2. Hourly mean of each block of four quarter-hours. SimBench labels its rows
   in German local time with daylight saving (a skipped hour in March, a
   repeated one in October) but the rows themselves are a uniform 15-minute
   sequence, so we index by row: hours and days are CET (UTC+1) all year.
3. Load profiles ``LOAD_PROFILES`` (BDEW-style standard load profiles as
   realised by SimBench: H0 households, G0 general commercial, G1 commercial
   weekdays 8-18 h, G4 shops, L0 general agriculture, L2 other agriculture)
   are each divided by their own annual hourly peak, so each peaks at 1.0.
   The default ``load`` is their equal-weight mean, again divided by its
   annual peak (a mixed feeder: 3/8 residential, 3/8 commercial, 2/8 farm).
4. Solar (``PV1``..``PV8``) and wind (``WP1``..``WP12``) are already fractions of
   rated power; they are clipped to [0, 1] (removes ``-0.000`` rounding
   artefacts). Defaults: ``solar`` = ``DEFAULT_SOLAR``, ``wind`` = ``DEFAULT_WIND``.
5. Price ($/MWh), a stylised merit-order model because SimBench has no prices::

       net_t   = load_t - SOLAR_SHARE * solar_t - WIND_SHARE * wind_t
       e_0     = SIGMA / sqrt(1 - PHI**2) * z_0          (stationary start)
       e_t     = PHI * e_{t-1} + SIGMA * z_t,   z_t ~ N(0, 1) i.i.d.
       price_t = max(FLOOR, BASE + SLOPE * net_t + EVENING_ADDER * [hour_t in EVENING_HOURS] + e_t)

   with ``z`` from ``numpy.random.default_rng(seed).standard_normal(8784)``
   over the whole year (before splitting, so both splits share one process),
   BASE = 25, SLOPE = 60 per p.u., SOLAR_SHARE = 0.5, WIND_SHARE = 0.3,
   EVENING_HOURS = 17..20 h CET, EVENING_ADDER = 12, PHI = 0.9, SIGMA = 3,
   FLOOR = 5, seed = ``DEFAULT_SEED`` (2016). The shares say how much PV/wind
   capacity (relative to peak load) the price-setting system has.
6. Split by calendar day: **test = days 8-14 of every month** (84 days, every
   season and weekday represented), **train = all other days** (282). Each
   split stores ``day_index`` (0-based day of year, 0 = 2016-01-01).
7. Cast to float32 and write with :func:`powergrid.data.dataset.save_dataset`
   (fixed zip timestamps, so a rebuild is byte-identical).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .dataset import default_dataset_path, load_dataset, save_dataset

YEAR = 2016
N_DAYS = 366
N_QUARTER_HOURS = N_DAYS * 96
SCENARIO = 0
LOAD_PROFILES: tuple[str, ...] = ("H0-A", "H0-B", "H0-C", "G0-A", "G1-A", "G4-A", "L0-A", "L2-A")
SOLAR_PROFILES: tuple[str, ...] = tuple(f"PV{i}" for i in range(1, 9))
WIND_PROFILES: tuple[str, ...] = tuple(f"WP{i}" for i in range(1, 13))
DEFAULT_SOLAR = "PV3"
DEFAULT_WIND = "WP4"  # onshore-like capacity factor (~0.29); WP1/WP2/WP9 are much windier
TEST_DAYS_OF_MONTH = range(8, 15)  # 1-based days of month 8..14

# price model (see module docstring)
DEFAULT_SEED = 2016
BASE = 25.0
SLOPE = 60.0
SOLAR_SHARE = 0.5
WIND_SHARE = 0.3
EVENING_HOURS: tuple[int, ...] = (17, 18, 19, 20)
EVENING_ADDER = 12.0
PHI = 0.9
SIGMA = 3.0
FLOOR = 5.0

ATTRIBUTION = (
    "Contains information from the SimBench database (simbench.de, simbench PyPI package), "
    "made available under the ODbL 1.0. Meinecke et al., 'SimBench - A Benchmark Dataset "
    "of Electric Power Systems to Compare Innovative Solutions Based on Power Flow "
    "Analysis', Energies 13(12):3290, 2020, doi:10.3390/en13123290."
)


def simbench_data_dir(scenario: int = SCENARIO) -> Path:
    """Folder of the SimBench "complete data" CSVs inside the installed package."""
    try:
        import simbench
    except ImportError as exc:
        raise ImportError(
            "rebuilding the dataset needs simbench: pip install 'heron-marl[data]'"
        ) from exc
    getter = getattr(simbench, "complete_data_path", None)
    if getter is not None:
        return Path(getter(scenario))
    return (  # older/newer layouts: same folder name inside the package
        Path(os.path.dirname(simbench.__file__))
        / "networks"
        / f"1-complete_data-mixed-all-{scenario}-sw"
    )


def _read_quarter_hours(csv: Path, columns: Sequence[str]) -> np.ndarray:
    """Read ``columns`` of a SimBench profile CSV as a (35136, n) float64 array."""
    import pandas as pd

    df = pd.read_csv(csv, sep=";", usecols=["time", *columns])
    if len(df) != N_QUARTER_HOURS:
        raise RuntimeError(f"{csv}: expected {N_QUARTER_HOURS} rows (2016), got {len(df)}")
    first, last = df["time"].iloc[0], df["time"].iloc[-1]
    if first != f"01.01.{YEAR} 00:00" or last != f"31.12.{YEAR} 23:45":
        raise RuntimeError(f"{csv}: unexpected time range {first} .. {last}")
    return df[list(columns)].to_numpy(dtype=np.float64)


def _hourly(q: np.ndarray) -> np.ndarray:
    """Mean of consecutive blocks of four quarter-hours (row-indexed, see docstring)."""
    return q.reshape(-1, 4, q.shape[1]).mean(axis=1)


def price_model(
    load: np.ndarray, solar: np.ndarray, wind: np.ndarray, seed: int = DEFAULT_SEED
) -> np.ndarray:
    """Hourly price ($/MWh) from net load; the formula is in the module docstring.

    ``load`` etc. must start at hour 0 of a day (hour of day = ``t % 24``).
    """
    n = len(load)
    z = np.random.default_rng(seed).standard_normal(n)
    noise = np.empty(n)
    noise[0] = SIGMA / np.sqrt(1.0 - PHI**2) * z[0]
    for t in range(1, n):
        noise[t] = PHI * noise[t - 1] + SIGMA * z[t]
    net = load - SOLAR_SHARE * solar - WIND_SHARE * wind
    evening = np.isin(np.arange(n) % 24, EVENING_HOURS)
    return np.maximum(FLOOR, BASE + SLOPE * net + EVENING_ADDER * evening + noise)


def holdout_day_mask(year: int = YEAR) -> np.ndarray:
    """Boolean per day of ``year``: True for the test split (days 8-14 of each month)."""
    start = dt.date(year, 1, 1)
    n_days = (dt.date(year + 1, 1, 1) - start).days
    return np.array(
        [(start + dt.timedelta(days=d)).day in TEST_DAYS_OF_MONTH for d in range(n_days)]
    )


def build_dataset(
    seed: int = DEFAULT_SEED, source_dir: str | Path | None = None
) -> dict[str, dict[str, Any]]:
    """Build the dataset dict (float32 arrays) from SimBench; writes nothing.

    Pure apart from reading the package CSVs, so two calls give bit-identical
    arrays; tests use that to check determinism without touching the repo.
    """
    src = Path(source_dir) if source_dir is not None else simbench_data_dir()
    load_q = _read_quarter_hours(src / "LoadProfile.csv", [f"{p}_pload" for p in LOAD_PROFILES])
    res_q = _read_quarter_hours(src / "RESProfile.csv", [*SOLAR_PROFILES, *WIND_PROFILES])

    load_profiles = _hourly(load_q)
    load_profiles /= load_profiles.max(axis=0)
    load = load_profiles.mean(axis=1)
    load /= load.max()
    res = np.clip(_hourly(res_q), 0.0, 1.0)
    solar_profiles = res[:, : len(SOLAR_PROFILES)]
    wind_profiles = res[:, len(SOLAR_PROFILES) :]
    solar = solar_profiles[:, SOLAR_PROFILES.index(DEFAULT_SOLAR)]
    wind = wind_profiles[:, WIND_PROFILES.index(DEFAULT_WIND)]
    price = price_model(load, solar, wind, seed=seed)

    is_test_day = holdout_day_mask(YEAR)
    hour_is_test = np.repeat(is_test_day, 24)
    out: dict[str, dict[str, Any]] = {}
    for split, hours, days in (
        ("train", ~hour_is_test, np.flatnonzero(~is_test_day)),
        ("test", hour_is_test, np.flatnonzero(is_test_day)),
    ):
        f32 = np.float32
        out[split] = {
            "load": load[hours].astype(f32),
            "solar": solar[hours].astype(f32),
            "wind": wind[hours].astype(f32),
            "price": price[hours].astype(f32),
            "load_profiles": load_profiles[hours].astype(f32),
            "load_profile_names": list(LOAD_PROFILES),
            "solar_profiles": solar_profiles[hours].astype(f32),
            "solar_profile_names": list(SOLAR_PROFILES),
            "wind_profiles": wind_profiles[hours].astype(f32),
            "wind_profile_names": list(WIND_PROFILES),
            "day_index": days.astype(np.int64),
        }
    return out


def build_metadata(seed: int = DEFAULT_SEED) -> dict[str, Any]:
    """Provenance written into the ``.npz`` (read back with ``load_metadata``)."""
    try:
        import simbench

        sb_version = str(getattr(simbench, "__version__", "unknown"))
    except ImportError:  # pragma: no cover
        sb_version = "unknown"
    return {
        "format_version": 1,
        "source": f"simbench {sb_version} package data, 1-complete_data-mixed-all-"
        f"{SCENARIO}-sw (LoadProfile.csv, RESProfile.csv)",
        "license": "ODbL-1.0 (database), DbCL-1.0 (contents); see DATA_LICENSE.md",
        "attribution": ATTRIBUTION,
        "year": YEAR,
        "time": "hourly means of 15-min data; row-indexed, so hours are CET (UTC+1) all year",
        "split": "test = days 8-14 of every month (84 days); train = all other days (282); "
        "day_index = 0-based day of year (0 = 2016-01-01)",
        "defaults": {
            "load": f"equal-weight mean of {list(LOAD_PROFILES)}, peak-normalised",
            "solar": DEFAULT_SOLAR,
            "wind": DEFAULT_WIND,
        },
        "price_model": {
            "formula": "max(FLOOR, BASE + SLOPE*(load - SOLAR_SHARE*solar - WIND_SHARE*wind) "
            "+ EVENING_ADDER*[hour in EVENING_HOURS] + AR1(PHI, SIGMA))",
            "units": "$/MWh",
            "BASE": BASE,
            "SLOPE": SLOPE,
            "SOLAR_SHARE": SOLAR_SHARE,
            "WIND_SHARE": WIND_SHARE,
            "EVENING_HOURS": list(EVENING_HOURS),
            "EVENING_ADDER": EVENING_ADDER,
            "PHI": PHI,
            "SIGMA": SIGMA,
            "FLOOR": FLOOR,
            "seed": seed,
        },
    }


def _arrays_equal(a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]]) -> bool:
    if a.keys() != b.keys():
        return False
    for split in a:
        if a[split].keys() != b[split].keys():
            return False
        for key, value in a[split].items():
            if isinstance(value, list):
                if list(value) != list(b[split][key]):
                    return False
            elif not np.array_equal(np.asarray(value), np.asarray(b[split][key])):
                return False
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point: build and write (or ``--check``) the bundled file."""
    parser = argparse.ArgumentParser(
        prog="python -m powergrid.data.build",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=default_dataset_path(),
        help="where to write the .npz (default: the bundled file)",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="price noise seed")
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write; exit 1 if --output differs from a fresh build",
    )
    args = parser.parse_args(argv)

    ds = build_dataset(seed=args.seed)
    if args.check:
        stored = load_dataset(args.output)
        # stored arrays are float64 upcasts of float32: compare in float32
        fresh = {
            s: {
                k: (
                    v.astype(np.float64)
                    if isinstance(v, np.ndarray) and v.dtype == np.float32
                    else v
                )
                for k, v in d.items()
            }
            for s, d in ds.items()
        }
        same = _arrays_equal(fresh, stored)
        print(f"{args.output}: {'up to date' if same else 'OUT OF DATE'}")
        return 0 if same else 1
    path = save_dataset(ds, args.output, meta=build_metadata(args.seed))
    size = path.stat().st_size
    print(
        f"wrote {path} ({size / 1e6:.2f} MB): "
        + ", ".join(f"{s} {len(d['load'])} h" for s, d in ds.items())
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
