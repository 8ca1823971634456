"""Hourly load / solar / wind / price time series for the power case study.

The bundled file ``simbench_hourly.npz`` is derived from SimBench profiles
(ODbL 1.0, see ``DATA_LICENSE.md``); ``README.md`` documents its format, the
train/test split and the price model. Only the loader is imported here: the
builder (``python -m powergrid.data.build``) needs ``simbench`` and ``pandas``,
which a user who merely loads data should not need.
"""

from .dataset import (
    HOURLY_KEYS,
    MAX_ABS_PRICE,
    MAX_CAPACITY_FACTOR,
    PROFILE_KEYS,
    SERIES_KEYS,
    SPLITS,
    DatasetError,
    InSampleEvaluationWarning,
    PickleRefusedError,
    UnsafeFormatWarning,
    day_count,
    default_dataset_path,
    episode_slice,
    is_pickle_path,
    load_dataset,
    load_default_dataset,
    load_metadata,
    normalize_dataset,
    save_dataset,
    validate_dataset,
)

__all__ = [
    "DatasetError",
    "PickleRefusedError",
    "UnsafeFormatWarning",
    "InSampleEvaluationWarning",
    "SPLITS",
    "SERIES_KEYS",
    "PROFILE_KEYS",
    "HOURLY_KEYS",
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
