"""Loading, validating, saving and slicing hourly time-series datasets.

A *dataset* is a plain dict so that it can come from anywhere (our bundled
``.npz``, the user guide's ``data.pkl``, a CSV or Parquet file) and be used by
environments without a wrapper class::

    {
        "train": {
            "load":  (T,)  float, per-unit, annual peak of the full year = 1.0
            "solar": (T,)  float, fraction of rated PV capacity, in [0, 1]
            "wind":  (T,)  float, fraction of rated wind capacity, in [0, 1]
            "price": (T,)  float, $/MWh
            # optional, so that several microgrids can see different profiles:
            "load_profiles":  (T, K) float, per-unit (each column peak-normalised)
            "load_profile_names": list of K str
            "solar_profiles": (T, Ks) float, "solar_profile_names": list of Ks str
            "wind_profiles":  (T, Kw) float, "wind_profile_names":  list of Kw str
            # optional, which days of the source year the split holds:
            "day_index": (T // 24,) int, 0-based day of year of each day
        },
        "test": {... same keys ...},
    }

``T`` may differ between the splits but must be a whole number of days
(a multiple of 24) so that hour-of-day is simply ``t % 24`` in both splits.
Arrays are returned as ``float64`` (the bundled file stores ``float32`` to stay
small; the upcast is exact). Keys this module does not know are kept as-is.

Two conveniences make the user guide's ``data.pkl`` load as written (see
:func:`normalize_dataset`): a series of exactly 24 values is a daily profile
and is repeated to the split's length, and a missing or empty ``test`` split
is a copy of ``train`` (with an :class:`InSampleEvaluationWarning`).

Values are bounded as well as finite, because one absurd number (a price of
1e300) would otherwise turn into ``inf`` observations and rewards far from
the file that caused it: see :data:`MAX_ABS_PRICE`, ``max_load_pu`` and
:data:`MAX_CAPACITY_FACTOR`.
"""

from __future__ import annotations

import io
import json
import logging
import pickle
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DatasetError",
    "PickleRefusedError",
    "UnsafeFormatWarning",
    "InSampleEvaluationWarning",
    "SPLITS",
    "SERIES_KEYS",
    "PROFILE_KEYS",
    "HOURLY_KEYS",
    "DEFAULT_DATASET_FILENAME",
    "PICKLE_SUFFIXES",
    "MAX_ABS_PRICE",
    "MAX_CAPACITY_FACTOR",
    "default_dataset_path",
    "is_pickle_path",
    "load_default_dataset",
    "load_dataset",
    "load_metadata",
    "normalize_dataset",
    "save_dataset",
    "validate_dataset",
    "day_count",
    "episode_slice",
]

SPLITS: tuple[str, ...] = ("train", "test")
#: Required 1-D hourly series in every split.
SERIES_KEYS: tuple[str, ...] = ("load", "solar", "wind", "price")
#: Optional 2-D hourly matrices and the key holding their column names.
PROFILE_KEYS: dict[str, str] = {
    "load_profiles": "load_profile_names",
    "solar_profiles": "solar_profile_names",
    "wind_profiles": "wind_profile_names",
}
#: Every key whose first axis is time (these are what ``episode_slice`` cuts).
HOURLY_KEYS: tuple[str, ...] = SERIES_KEYS + tuple(PROFILE_KEYS)
_NAME_KEYS: tuple[str, ...] = tuple(PROFILE_KEYS.values())
_NON_NEGATIVE_KEYS = ("load", "load_profiles")
_CAPACITY_FACTOR_KEYS = ("solar", "wind", "solar_profiles", "wind_profiles")
#: Solar/wind above this are almost certainly not capacity factors (e.g. kW).
#: It is above 1 because some measured series slightly exceed nameplate.
MAX_CAPACITY_FACTOR = 1.5
#: Largest accepted ``|price|`` in $/MWh. Real wholesale prices stay within about
#: -500 .. 10,000 $/MWh even in scarcity (market caps are of that order), so a
#: value beyond 1e5 is a unit mistake or garbage; bounding it also keeps
#: observations and rewards (price x MW) far from float overflow.
MAX_ABS_PRICE = 1e5
#: A series with exactly this many values is a daily profile (the guide's solar).
DAILY_PROFILE_HOURS = 24
#: File suffixes read with :mod:`pickle` (which can execute code).
PICKLE_SUFFIXES: tuple[str, ...] = (".pkl", ".pickle")

logger = logging.getLogger(__name__)

DEFAULT_DATASET_FILENAME = "simbench_hourly.npz"
_NPZ_SEP = "__"  # npz member names are "<split>__<key>"; "/" would nest in the zip
_NPZ_META = "meta__json"
# CSV/Parquet column prefixes for the optional profile matrices.
_COLUMN_PREFIX = {
    "load_profiles": "load_profile:",
    "solar_profiles": "solar_profile:",
    "wind_profiles": "wind_profile:",
}
#: Share of whole days used as the test split for files without a split column.
DEFAULT_TEST_FRACTION = 0.2


class DatasetError(ValueError):
    """A dataset is malformed. ``key`` and ``split`` name the culprit, if known.

    Subclasses ``ValueError`` so that callers who already catch bad-input
    errors keep working, while tests and tools can catch exactly this.
    """

    def __init__(self, message: str, *, key: str | None = None, split: str | None = None):
        self.key = key
        self.split = split
        where = ""
        if split is not None and key is not None:
            where = f"dataset[{split!r}][{key!r}]: "
        elif split is not None:
            where = f"dataset[{split!r}]: "
        elif key is not None:
            where = f"{key!r}: "
        super().__init__(where + message)


class PickleRefusedError(DatasetError):
    """A pickle was about to be loaded with ``allow_pickle=False`` (strict mode)."""


class UnsafeFormatWarning(UserWarning):
    """Emitted when loading a pickle, because unpickling can execute code."""


class InSampleEvaluationWarning(UserWarning):
    """The ``test`` split is a copy of ``train``, so evaluation results are in-sample."""


# --------------------------------------------------------------------------- paths


def default_dataset_path() -> Path:
    """Path of the bundled SimBench-derived dataset (ships inside the package)."""
    return Path(__file__).with_name(DEFAULT_DATASET_FILENAME)


def load_default_dataset(*, validate: bool = True) -> dict[str, dict[str, Any]]:
    """Load the bundled dataset; see ``README.md`` in this folder for its contents."""
    return load_dataset(default_dataset_path(), validate=validate)


# --------------------------------------------------------------------------- loading


def is_pickle_path(path: str | Path) -> bool:
    """Whether :func:`load_dataset` would unpickle ``path`` (judged by its suffix only).

    Lets checking tools (``heron-power validate``) tell the user that a run
    would execute the file, without opening it.
    """
    return Path(path).suffix.lower() in PICKLE_SUFFIXES


def pickle_refused_message(path: str | Path) -> str:
    """What, why and how to convert, for a pickle refused in strict mode."""
    return (
        f"{path} is a pickle and pickles are refused here (allow_pickle=False / --no-pickle): "
        "unpickling runs any code the file contains. Convert it once, in a session that "
        "trusts the file: from powergrid.data import load_dataset, save_dataset; "
        f"save_dataset(load_dataset({str(path)!r}), 'data.npz'), then point dataset_path "
        "at data.npz"
    )


def load_dataset(
    path: str | Path, *, validate: bool = True, allow_pickle: bool = True
) -> dict[str, dict[str, Any]]:
    """Load a dataset from ``.npz``, ``.pkl``/``.pickle``, ``.csv`` or ``.parquet``.

    - ``.npz``: our format (written by :func:`save_dataset`), read with
      ``allow_pickle=False`` so that a hostile file cannot run code.
    - ``.pkl``: the user guide's ``data.pkl`` (a pickled dict in the dataset
      format), kept for compatibility. **Unpickling executes arbitrary code**:
      only load files you created or trust. An :class:`UnsafeFormatWarning` is
      emitted every time; convert once with ``save_dataset(ds, "x.npz")``.
      With ``allow_pickle=False`` a pickle is refused with a
      :class:`PickleRefusedError` before the file is opened.
    - ``.csv`` / ``.parquet``: one row per hour with columns ``load``,
      ``solar``, ``wind``, ``price`` and optionally ``split`` (``train`` /
      ``test``; rows keep file order within a split). Without a ``split``
      column the last 20 % of whole days (rounded, at least one day) become
      the test split, and the row count must be a multiple of 24. Optional
      columns: ``day_index`` (constant within each day), and
      ``load_profile:<name>``, ``solar_profile:<name>``,
      ``wind_profile:<name>`` for the named profile matrices. Other columns
      (e.g. a timestamp) are ignored.

    Arrays come back as ``float64`` and pass through :func:`normalize_dataset`
    (24-value daily profiles are repeated, an empty ``test`` becomes a copy of
    ``train``). With ``validate=True`` (the default) the result is checked by
    :func:`validate_dataset`, so a bad file fails here, with a message naming
    the key and the fix, not deep inside an episode.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        ds = _read_npz(path)
    elif suffix in PICKLE_SUFFIXES:
        if not allow_pickle:
            raise PickleRefusedError(pickle_refused_message(path))
        warnings.warn(
            f"loading {path} with pickle: unpickling can execute arbitrary code, so only load "
            "files you trust; convert it once with powergrid.data.save_dataset(ds, 'data.npz')",
            UnsafeFormatWarning,
            stacklevel=2,
        )
        with path.open("rb") as fh:
            ds = _coerce_dataset(pickle.load(fh))  # documented and warned above
    elif suffix == ".csv":
        pd = _import_pandas(".csv")
        # round_trip: pandas' default fast parser can be off by an ulp
        df = pd.read_csv(path, float_precision="round_trip")
        ds = _frame_to_dataset(df, source=str(path))
    elif suffix in (".parquet", ".pq"):
        pd = _import_pandas(".parquet")
        ds = _frame_to_dataset(pd.read_parquet(path), source=str(path))
    else:
        raise DatasetError(
            f"unsupported file type {suffix!r} for {path}; use .npz, .pkl, .csv or .parquet"
        )
    ds = normalize_dataset(ds)
    if validate:
        validate_dataset(ds)
    return ds


def normalize_dataset(ds: Mapping[str, Any]) -> dict[str, Any]:
    """Expand the user guide's shorthands; returns a new dict (``ds`` is not changed).

    - An hourly key with exactly 24 values (rows) in a split whose ``load`` is a
      longer whole number of days is a daily profile: it is repeated to the
      length of ``load`` (logged at INFO, naming key and split). Any other
      length mismatch is left for :func:`validate_dataset` to report.
    - A missing or empty ``test`` split becomes a copy of ``train`` (without
      ``day_index``, which would otherwise be reported as train/test overlap),
      with an :class:`InSampleEvaluationWarning`: evaluating on training days
      says nothing about generalisation, but the guide's file has no test data.

    Anything that is not in the expected shape is passed through unchanged so
    that :func:`validate_dataset` can report it with context.
    """
    if not isinstance(ds, Mapping):
        return ds  # type: ignore[return-value]  # validate_dataset explains
    out: dict[str, Any] = {
        split: _tile_daily_profiles(data, str(split)) if isinstance(data, Mapping) else data
        for split, data in ds.items()
    }
    test = out.get("test")
    train = out.get("train")
    if (test is None or (isinstance(test, Mapping) and not test)) and isinstance(train, Mapping):
        warnings.warn(
            "the dataset has no 'test' data, so 'test' is a copy of 'train' and evaluation "
            "(train: false) is in-sample: it measures fit, not generalisation; add a 'test' "
            "split with held-out days to evaluate properly",
            InSampleEvaluationWarning,
            stacklevel=3,
        )
        out["test"] = {
            k: np.array(v) if isinstance(v, np.ndarray) else v
            for k, v in train.items()
            if k != "day_index"
        }
    return out


def _tile_daily_profiles(data: Mapping[str, Any], split: str) -> dict[str, Any]:
    """Repeat 24-value hourly keys to the length of ``load`` (see normalize_dataset)."""
    out = dict(data)
    load = out.get("load")
    if not isinstance(load, np.ndarray) or load.ndim != 1:
        return out
    n_hours = len(load)
    if n_hours <= DAILY_PROFILE_HOURS or n_hours % DAILY_PROFILE_HOURS != 0:
        return out
    reps = n_hours // DAILY_PROFILE_HOURS
    for key in HOURLY_KEYS:
        value = out.get(key)
        if key == "load" or not isinstance(value, np.ndarray) or value.ndim not in (1, 2):
            continue
        if value.shape[0] != DAILY_PROFILE_HOURS:
            continue
        out[key] = np.tile(value, (reps,) + (1,) * (value.ndim - 1))
        logger.info(
            "dataset[%r][%r]: 24 values, read as a daily profile and repeated %d times to "
            "the %d hours of 'load'",
            split, key, reps, n_hours,
        )
    return out


def load_metadata(path: str | Path | None = None) -> dict[str, Any]:
    """Provenance stored in an ``.npz`` (source, licence, split rule, price model).

    Kept out of :func:`load_dataset`'s result so the dataset dict has exactly the
    two splits the user guide promises. Returns ``{}`` if the file has none.
    """
    path = default_dataset_path() if path is None else Path(path)
    with np.load(path, allow_pickle=False) as z:
        if _NPZ_META not in z.files:
            return {}
        return json.loads(z[_NPZ_META].item())


def _read_npz(path: Path) -> dict[str, dict[str, Any]]:
    ds: dict[str, dict[str, Any]] = {}
    with np.load(path, allow_pickle=False) as z:
        for member in z.files:
            if member == _NPZ_META:
                continue
            split, sep, key = member.partition(_NPZ_SEP)
            if not sep or not key:
                raise DatasetError(
                    f"{path} has member {member!r}, not '<split>{_NPZ_SEP}<key>'; "
                    "this is not a dataset written by powergrid.data.save_dataset"
                )
            ds.setdefault(split, {})[key] = z[member]
    # zip members are sorted; present the splits in the conventional order
    order = [s for s in SPLITS if s in ds] + [s for s in ds if s not in SPLITS]
    return _coerce_dataset({s: ds[s] for s in order})


def _import_pandas(kind: str) -> Any:
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - pandas is a powergrid dependency
        raise ImportError(f"reading {kind} datasets needs pandas: pip install pandas") from exc
    return pd


def _coerce_dataset(obj: Any) -> dict[str, dict[str, Any]]:
    """Turn lists/Series/float32 into float64 arrays, names into ``list[str]``.

    Conversion problems become :class:`DatasetError` naming the key, so a
    pickle holding e.g. strings in ``price`` fails as clearly as a bad CSV.
    """
    if not isinstance(obj, Mapping):
        raise DatasetError(
            f"a dataset must be a dict with splits {SPLITS}, got {type(obj).__name__}"
        )
    out: dict[str, dict[str, Any]] = {}
    for split, data in obj.items():
        if not isinstance(data, Mapping):
            out[split] = data  # validate_dataset reports it with context
            continue
        conv: dict[str, Any] = {}
        for key, value in data.items():
            if key in HOURLY_KEYS:
                conv[key] = _as_float_array(value, key=key, split=str(split))
            elif key in _NAME_KEYS:
                conv[key] = [str(v) for v in np.asarray(value).ravel()]
            elif key == "day_index":
                arr = np.asarray(value)
                conv[key] = arr.astype(np.int64) if arr.dtype.kind in "iu" else arr
            else:
                conv[key] = value
        out[str(split)] = conv
    return out


def _as_float_array(value: Any, *, key: str, split: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DatasetError(
            f"cannot be converted to numbers ({exc}); it must hold only numeric values",
            key=key,
            split=split,
        ) from exc
    return arr


def _frame_to_dataset(df: Any, *, source: str) -> dict[str, dict[str, Any]]:
    """Split a one-row-per-hour table into the dataset dict (see load_dataset)."""
    pd = _import_pandas("tabular")
    df = df.rename(columns=lambda c: str(c).strip())
    for col in SERIES_KEYS:
        if col not in df.columns:
            raise DatasetError(
                f"column is missing from {source} (found {list(df.columns)}); "
                f"add a {col!r} column with one value per hour",
                key=col,
            )
    n = len(df)
    if "split" in df.columns:
        labels = df["split"].astype(str).str.strip().str.lower()
        bad = sorted(set(labels) - set(SPLITS))
        if bad:
            raise DatasetError(
                f"column has values {bad} in {source}; use only 'train' and 'test'",
                key="split",
            )
        masks = {s: (labels == s).to_numpy() for s in SPLITS}
    else:
        if n % 24 != 0 or n < 48:
            raise DatasetError(
                f"{source} has {n} rows and no 'split' column; without one the rows must be "
                "whole days (a multiple of 24, at least 48) so the last 20 % of days can be "
                "the test split; trim the file or add a 'split' column (train/test)",
                key="load",
            )
        n_days = n // 24
        n_test = max(1, int(round(DEFAULT_TEST_FRACTION * n_days)))
        is_test = np.arange(n) >= (n_days - n_test) * 24
        masks = {"train": ~is_test, "test": is_test}
        if "day_index" not in df.columns:
            df = df.assign(day_index=np.arange(n) // 24)

    ds: dict[str, dict[str, Any]] = {}
    for split, mask in masks.items():
        if not mask.any():
            if split == "test":
                continue  # normalize_dataset copies train, with a warning
            raise DatasetError(
                f"{source} has no rows with split == {split!r}; every dataset needs "
                "'train' rows ('test' rows are optional but recommended)",
                split=split,
            )
        part = df.loc[mask]
        data: dict[str, Any] = {}
        for col in SERIES_KEYS:
            data[col] = _numeric_column(pd, part[col], key=col, split=split)
        for key, prefix in _COLUMN_PREFIX.items():
            cols = [c for c in part.columns if c.startswith(prefix)]
            if cols:
                data[key] = np.column_stack(
                    [_numeric_column(pd, part[c], key=key, split=split) for c in cols]
                )
                data[PROFILE_KEYS[key]] = [c[len(prefix) :] for c in cols]
        if "day_index" in part.columns:
            data["day_index"] = _daily_from_hourly(part["day_index"].to_numpy(), split=split)
        ds[split] = data
    return ds


def _numeric_column(pd: Any, col: Any, *, key: str, split: str) -> np.ndarray:
    try:
        return pd.to_numeric(col, errors="raise").to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DatasetError(
            f"column holds non-numeric values ({exc}); it must hold only numbers",
            key=key,
            split=split,
        ) from exc


def _daily_from_hourly(values: np.ndarray, *, split: str) -> np.ndarray:
    """Collapse an hourly ``day_index`` column to one entry per day."""
    if len(values) % 24 != 0:
        # the length check in validate_dataset explains this better; keep raw
        return np.asarray(values)
    days = np.asarray(values).reshape(-1, 24)
    if not (days == days[:, :1]).all():
        raise DatasetError(
            "column must be constant within each block of 24 rows (one day); "
            "fix the rows or drop the 'day_index' column",
            key="day_index",
            split=split,
        )
    return days[:, 0].astype(np.int64)


# --------------------------------------------------------------------------- validation


def validate_dataset(ds: Any, *, max_load_pu: float = 10.0) -> None:
    """Check the shape/value contract; raise :class:`DatasetError` on the first problem.

    Checked, per split: both splits exist; ``load``/``solar``/``wind``/``price``
    exist, are numeric and 1-D; every hourly array has the length of ``load``
    on its first axis and that length is a positive multiple of 24; no NaN or
    inf; load (and load profiles) are >= 0 and at most ``max_load_pu`` (a
    larger value means absolute units, not per-unit); solar/wind (and their
    profiles) are in ``[0, MAX_CAPACITY_FACTOR]``; ``|price| <= MAX_ABS_PRICE``
    $/MWh; profile matrices are 2-D with one name per column; ``day_index`` has
    one unique non-negative integer per day. Across splits: ``day_index`` values
    must not overlap, because a shared day would leak test data into training.

    Messages have the form ``dataset['split']['key']: problem; fix``, and value
    problems name the hour (and column, for profile matrices) of the first bad
    value. This only checks: the guide's shorthands (24-value daily profiles,
    an empty ``test``) are expanded by :func:`normalize_dataset`, which
    :func:`load_dataset` applies before validating.
    """
    if not isinstance(ds, Mapping):
        raise DatasetError(
            f"a dataset must be a dict with splits {SPLITS}, got {type(ds).__name__}"
        )
    for split in SPLITS:
        if split not in ds:
            raise DatasetError(
                f"split is missing (found {sorted(map(str, ds))}); a dataset needs both "
                f"{SPLITS} splits, each a dict of hourly arrays",
                split=split,
            )
        _validate_split(ds[split], split, max_load_pu=max_load_pu)
    days = {s: ds[s].get("day_index") for s in SPLITS}
    if all(d is not None for d in days.values()):
        shared = np.intersect1d(days["train"], days["test"])
        if shared.size:
            raise DatasetError(
                f"days {shared[:10].tolist()} appear in both 'train' and 'test' "
                f"({shared.size} in all); the splits must be disjoint so that test days are "
                "never trained on",
                key="day_index",
                split="test",
            )


def _validate_split(data: Any, split: str, *, max_load_pu: float) -> None:
    if not isinstance(data, Mapping):
        raise DatasetError(
            f"must be a dict of hourly arrays, got {type(data).__name__}; see the dataset format "
            "in powergrid.data.dataset",
            split=split,
        )
    if not data:
        raise DatasetError(
            f"is empty; give it {list(SERIES_KEYS)} (load_dataset and normalize_dataset copy "
            "'train' into an empty 'test', with a warning that evaluation is then in-sample)",
            split=split,
        )
    for key in SERIES_KEYS:
        if key not in data:
            raise DatasetError(
                f"key is missing (found {sorted(map(str, data))}); every split needs "
                f"{list(SERIES_KEYS)}",
                key=key,
                split=split,
            )
    n_hours = _check_array(data, "load", split, ndim=1, n_hours=None)
    if n_hours == 0 or n_hours % 24 != 0:
        raise DatasetError(
            f"has length {n_hours}, not a positive multiple of 24; splits must hold whole "
            "days so that hour-of-day is t % 24; trim or pad to whole days",
            key="load",
            split=split,
        )
    for key in SERIES_KEYS[1:]:
        _check_array(data, key, split, ndim=1, n_hours=n_hours)
    for key, names_key in PROFILE_KEYS.items():
        has_matrix, has_names = key in data, names_key in data
        if has_matrix != has_names:
            present, absent = (key, names_key) if has_matrix else (names_key, key)
            raise DatasetError(
                f"is present but {absent!r} is not; profile matrices need one name per column",
                key=present,
                split=split,
            )
        if not has_matrix:
            continue
        _check_array(data, key, split, ndim=2, n_hours=n_hours)
        names = list(data[names_key])
        n_cols = np.shape(data[key])[1]
        if len(names) != n_cols:
            raise DatasetError(
                f"has {len(names)} names but {key!r} has {n_cols} columns; give one name per "
                "column",
                key=names_key,
                split=split,
            )
        if len(set(names)) != len(names) or not all(isinstance(n, str) and n for n in names):
            raise DatasetError(
                "names must be unique non-empty strings; rename the duplicates or blanks",
                key=names_key,
                split=split,
            )
    if "day_index" in data:
        _check_day_index(data["day_index"], split, n_days=n_hours // 24)

    _check_bounds(data, split, max_load_pu=max_load_pu)


def _check_bounds(data: Mapping[str, Any], split: str, *, max_load_pu: float) -> None:
    """Magnitude limits per kind of series (values are already known to be finite)."""
    for key in _NON_NEGATIVE_KEYS:
        if key not in data:
            continue
        arr = np.asarray(data[key])
        _reject(
            arr, arr < 0, key, split, "has negative values",
            "load is consumption in per-unit and must be >= 0; model generation in "
            "'solar'/'wind' instead",
        )
        _reject(
            arr, arr > max_load_pu, key, split, f"has values above {max_load_pu} per-unit",
            "it looks like absolute units (kW/MW): divide by the annual peak so the peak "
            "is ~1.0",
        )
    for key in _CAPACITY_FACTOR_KEYS:
        if key in data:
            arr = np.asarray(data[key])
            _reject(
                arr, (arr < 0) | (arr > MAX_CAPACITY_FACTOR), key, split,
                f"has values outside [0, {MAX_CAPACITY_FACTOR}]",
                "give generation as a fraction of rated capacity (divide by the installed "
                "capacity, clip small negatives to 0)",
            )
    price = np.asarray(data["price"])
    _reject(
        price, np.abs(price) > MAX_ABS_PRICE, "price", split,
        f"has values with |price| above MAX_ABS_PRICE = {MAX_ABS_PRICE:g} $/MWh",
        "give prices in $/MWh (real markets stay within about -500..10000 $/MWh): check the "
        "units or replace the outliers",
    )


def _reject(
    arr: np.ndarray, bad: np.ndarray, key: str, split: str, problem: str, fix: str
) -> None:
    """Raise ``problem (count, first at hour h: v, range); fix`` if ``bad`` has any True."""
    if not bad.any():
        return
    first = np.unravel_index(int(np.argmax(bad)), bad.shape)
    raise DatasetError(
        f"{problem} ({int(bad.sum())} value(s), first at {_where(first)}: "
        f"{float(arr[first]):.4g}; range [{float(arr.min()):.4g}, {float(arr.max()):.4g}]); "
        f"{fix}",
        key=key,
        split=split,
    )


def _where(index: tuple[Any, ...]) -> str:
    """``hour h`` for a series, ``hour h, column c`` for a profile matrix."""
    where = f"hour {int(index[0])}"
    return where + (f", column {int(index[1])}" if len(index) > 1 else "")


def _check_array(
    data: Mapping[str, Any], key: str, split: str, *, ndim: int, n_hours: int | None
) -> int:
    """Type, rank, length and finiteness of one hourly array; returns its length."""
    arr = np.asarray(data[key])
    if arr.dtype.kind not in "fiu":
        raise DatasetError(
            f"has dtype {arr.dtype}, expected numbers; convert it to a float array",
            key=key,
            split=split,
        )
    if arr.ndim != ndim:
        shape = "(T,)" if ndim == 1 else "(T, K)"
        raise DatasetError(
            f"has shape {arr.shape}, expected {shape} with T hours on the first axis; "
            "reshape it (2-D matrices go in *_profiles keys)",
            key=key,
            split=split,
        )
    if n_hours is not None and arr.shape[0] != n_hours:
        raise DatasetError(
            f"has length {arr.shape[0]} but 'load' has {n_hours}; every hourly array in a "
            f"split must cover the same hours: give {n_hours} values (one per hour), or "
            f"exactly {DAILY_PROFILE_HOURS} for a daily profile that load_dataset repeats",
            key=key,
            split=split,
        )
    if arr.size and not np.isfinite(arr).all():
        bad = ~np.isfinite(arr)
        first = np.unravel_index(int(np.argmax(bad)), bad.shape)
        kind = "NaN" if np.isnan(arr[first]) else str(float(arr[first]))
        raise DatasetError(
            f"contains {int(bad.sum())} non-finite value(s) ({kind}, first at "
            f"{_where(first)}); fill gaps (e.g. interpolate) before loading",
            key=key,
            split=split,
        )
    return int(arr.shape[0])


def _check_day_index(value: Any, split: str, *, n_days: int) -> None:
    arr = np.asarray(value)
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise DatasetError(
            f"must be a 1-D integer array (one entry per day), got dtype {arr.dtype} "
            f"shape {arr.shape}; convert it or drop the key",
            key="day_index",
            split=split,
        )
    if len(arr) != n_days:
        raise DatasetError(
            f"has {len(arr)} entries but the split has {n_days} days; give one index per day",
            key="day_index",
            split=split,
        )
    if len(np.unique(arr)) != len(arr) or (arr < 0).any():
        raise DatasetError(
            "entries must be unique non-negative day numbers; give each day its own index",
            key="day_index",
            split=split,
        )


# --------------------------------------------------------------------------- saving


def save_dataset(
    ds: Mapping[str, Mapping[str, Any]],
    path: str | Path,
    *,
    meta: Mapping[str, Any] | None = None,
    npz_dtype: type[np.floating] = np.float32,
) -> Path:
    """Write ``ds`` as ``.npz``, ``.csv`` or ``.parquet`` (never pickle).

    The ``.npz`` is written with a fixed zip timestamp so that identical data
    gives a byte-identical file (clean diffs when the dataset is rebuilt);
    hourly arrays are stored as ``npz_dtype`` (float32 halves the size and is
    far more precise than the source data). ``meta`` (JSON-serialisable) is
    stored in the ``.npz`` only. CSV/Parquet use the column layout described in
    :func:`load_dataset` and keep full float64 precision.
    """
    validate_dataset(ds)
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        members: dict[str, np.ndarray] = {}
        for split in SPLITS:
            for key, value in ds[split].items():
                if key in HOURLY_KEYS:
                    arr = np.asarray(value, dtype=npz_dtype)
                elif key in _NAME_KEYS:
                    arr = np.asarray([str(v) for v in value], dtype=str)
                elif key == "day_index":
                    arr = np.asarray(value, dtype=np.int16 if len(value) < 2**15 else np.int64)
                else:
                    continue  # unknown keys may not be array-like; not stored
                members[f"{split}{_NPZ_SEP}{key}"] = arr
        if meta is not None:
            members[_NPZ_META] = np.asarray(json.dumps(meta, sort_keys=True, indent=1))
        _write_npz_deterministic(path, members)
    elif suffix in (".csv", ".parquet", ".pq"):
        pd = _import_pandas(suffix)
        frames = []
        for split in SPLITS:
            data = ds[split]
            n = len(data["load"])
            cols: dict[str, Any] = {"split": [split] * n}
            if "day_index" in data:
                cols["day_index"] = np.repeat(np.asarray(data["day_index"], dtype=np.int64), 24)
            for key in SERIES_KEYS:
                cols[key] = np.asarray(data[key], dtype=np.float64)
            for key, prefix in _COLUMN_PREFIX.items():
                if key in data:
                    mat = np.asarray(data[key], dtype=np.float64)
                    for j, name in enumerate(data[PROFILE_KEYS[key]]):
                        cols[prefix + str(name)] = mat[:, j]
            frames.append(pd.DataFrame(cols))
        df = pd.concat(frames, ignore_index=True)
        if suffix == ".csv":
            df.to_csv(path, index=False, float_format="%.17g")
        else:
            df.to_parquet(path, index=False)
    else:
        raise DatasetError(f"cannot save as {suffix!r}; use .npz, .csv or .parquet")
    return path


def _write_npz_deterministic(path: Path, members: Mapping[str, np.ndarray]) -> None:
    """Like ``np.savez_compressed`` but with fixed member timestamps and order."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(members):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asarray(members[name]), allow_pickle=False)
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue(), compresslevel=9)


# --------------------------------------------------------------------------- helpers


def _split_data(ds: Mapping[str, Any], split: str) -> Mapping[str, Any]:
    if split not in ds:
        raise DatasetError(
            f"split is missing (found {sorted(map(str, ds))}); use one of {SPLITS}",
            split=split,
        )
    data = ds[split]
    if "load" not in data:
        raise DatasetError("key is missing; every split needs it", key="load", split=split)
    return data


def day_count(ds: Mapping[str, Any], split: str) -> int:
    """Number of whole days in ``split`` (episode samplers draw start days from this)."""
    return len(_split_data(ds, split)["load"]) // 24


def episode_slice(
    ds: Mapping[str, Any], split: str, start_hour: int, n_steps: int
) -> dict[str, Any]:
    """The hourly window ``[start_hour, start_hour + n_steps)`` of one split.

    Indices wrap around the end of the split (``(start_hour + i) % T``), so any
    start and any length are valid and episodes never run out of data; a window
    longer than the split repeats it. ``start_hour`` may be negative (counted
    from the end, like Python indexing). Note that the splits are not
    contiguous in calendar time (the bundled test split is days 8-14 of each
    month), so a window may jump from one week or month to the next at a day
    boundary; hour-of-day stays consistent because splits are whole days.

    Returns every hourly array sliced on axis 0 (1-D and 2-D), the ``*_names``
    lists copied, and ``hour_index``: the position of each step within the
    split (``hour_index % 24`` is the hour of day). ``day_index`` and unknown
    keys are not included.
    """
    if n_steps < 0:
        raise ValueError(f"n_steps must be >= 0, got {n_steps}")
    data = _split_data(ds, split)
    n_hours = len(data["load"])
    if n_hours == 0:
        raise DatasetError("is empty; cannot slice an episode", key="load", split=split)
    idx = (int(start_hour) + np.arange(n_steps, dtype=np.int64)) % n_hours
    out: dict[str, Any] = {"hour_index": idx}
    for key, value in data.items():
        if key in HOURLY_KEYS:
            out[key] = np.asarray(value)[idx]
        elif key in _NAME_KEYS:
            out[key] = list(value)
    return out
