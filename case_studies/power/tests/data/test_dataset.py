"""Tests for the bundled SimBench-derived dataset, its loader and its builder."""

from __future__ import annotations

import datetime as dt
import importlib.util
import logging
import pickle
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from powergrid.data import (
    HOURLY_KEYS,
    MAX_ABS_PRICE,
    MAX_CAPACITY_FACTOR,
    SERIES_KEYS,
    DatasetError,
    InSampleEvaluationWarning,
    PickleRefusedError,
    UnsafeFormatWarning,
    day_count,
    default_dataset_path,
    episode_slice,
    load_dataset,
    load_default_dataset,
    load_metadata,
    normalize_dataset,
    save_dataset,
    validate_dataset,
)

HAS_SIMBENCH = importlib.util.find_spec("simbench") is not None
needs_simbench = pytest.mark.skipif(
    not HAS_SIMBENCH, reason="simbench not installed (pip install 'heron-marl[data]')"
)


def _synthetic(n_days_train: int = 3, n_days_test: int = 2, seed: int = 0) -> dict[str, Any]:
    """A small valid dataset, built fresh so tests can corrupt it freely."""
    rng = np.random.default_rng(seed)
    ds: dict[str, Any] = {}
    day0 = 0
    for split, n_days in (("train", n_days_train), ("test", n_days_test)):
        n = 24 * n_days
        ds[split] = {
            "load": rng.uniform(0.2, 1.0, n),
            "solar": rng.uniform(0.0, 1.0, n),
            "wind": rng.uniform(0.0, 1.0, n),
            "price": rng.uniform(10.0, 90.0, n),
            "load_profiles": rng.uniform(0.0, 1.0, (n, 2)),
            "load_profile_names": ["res", "com"],
            "day_index": np.arange(day0, day0 + n_days),
        }
        day0 += n_days
    return ds


SYNTH = _synthetic()


@pytest.fixture(scope="module")
def bundled() -> dict[str, Any]:
    return load_default_dataset()


# --------------------------------------------------------------------------- bundled file


def test_bundled_file_is_small_npz() -> None:
    path = default_dataset_path()
    assert path.suffix == ".npz" and path.is_file()
    assert path.stat().st_size < 3_000_000
    with np.load(path, allow_pickle=False) as z:  # must not need pickle
        assert all(z[m].dtype != object for m in z.files)


def test_bundled_shape_contract(bundled: dict[str, Any]) -> None:
    assert list(bundled) == ["train", "test"]
    for split, data in bundled.items():
        n = len(data["load"])
        assert n % 24 == 0 and n > 0
        for key in SERIES_KEYS:
            assert data[key].shape == (n,), (split, key)
            assert data[key].dtype == np.float64
            assert np.isfinite(data[key]).all(), (split, key)
        k = len(data["load_profile_names"])
        assert k >= 4 and data["load_profiles"].shape == (n, k)
        assert all(isinstance(name, str) for name in data["load_profile_names"])
        assert data["solar_profiles"].shape == (n, len(data["solar_profile_names"]))
        assert data["wind_profiles"].shape == (n, len(data["wind_profile_names"]))
        assert data["day_index"].shape == (n // 24,)
        assert day_count(bundled, split) == n // 24
        for key in ("solar", "wind", "solar_profiles", "wind_profiles"):
            assert data[key].min() >= 0.0 and data[key].max() <= 1.0
        assert data["load"].min() >= 0.0
    # load is peak-normalised over the whole year (the peak falls in one split)
    peak = max(float(d["load"].max()) for d in bundled.values())
    assert peak == pytest.approx(1.0, abs=1e-6)
    for j in range(bundled["train"]["load_profiles"].shape[1]):
        col_peak = max(float(d["load_profiles"][:, j].max()) for d in bundled.values())
        assert col_peak == pytest.approx(1.0, abs=1e-6)


def test_bundled_split_is_days_8_to_14_and_covers_year(bundled: dict[str, Any]) -> None:
    train, test = bundled["train"]["day_index"], bundled["test"]["day_index"]
    assert np.intersect1d(train, test).size == 0
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(366))
    assert len(test) == 84 and len(train) == 282
    dates = [dt.date(2016, 1, 1) + dt.timedelta(days=int(d)) for d in test]
    assert all(8 <= d.day <= 14 for d in dates)
    assert {d.month for d in dates} == set(range(1, 13))  # every season


def test_bundled_price_rises_with_net_load(bundled: dict[str, Any]) -> None:
    meta = load_metadata()["price_model"]
    for data in bundled.values():
        net = data["load"] - meta["SOLAR_SHARE"] * data["solar"] - meta["WIND_SHARE"] * data["wind"]
        assert np.corrcoef(data["price"], net)[0, 1] > 0.5
        assert data["price"].min() >= meta["FLOOR"] - 1e-4
        hourly = data["price"].reshape(-1, 24).mean(axis=0)
        assert hourly[meta["EVENING_HOURS"]].mean() > hourly.mean()


def test_metadata_names_source_and_licence() -> None:
    meta = load_metadata()
    assert "ODbL" in meta["license"]
    assert "Meinecke" in meta["attribution"] and "simbench" in meta["source"].lower()
    for name in ("DATA_LICENSE.md", "README.md"):
        assert (default_dataset_path().parent / name).is_file()


# --------------------------------------------------------------------------- builder


@pytest.fixture(scope="module")
def two_builds() -> tuple[dict[str, Any], dict[str, Any]]:
    if not HAS_SIMBENCH:
        pytest.skip("simbench not installed (pip install 'heron-marl[data]')")
    from powergrid.data.build import build_dataset

    return build_dataset(), build_dataset()


def _assert_same(a: dict[str, Any], b: dict[str, Any], *, cast: Any = None) -> None:
    assert a.keys() == b.keys()
    for split in a:
        assert a[split].keys() == b[split].keys(), split
        for key, va in a[split].items():
            vb = b[split][key]
            if isinstance(va, list):
                assert list(va) == list(vb), (split, key)
            else:
                va, vb = np.asarray(va), np.asarray(vb)
                if cast is not None and key in HOURLY_KEYS:
                    va, vb = va.astype(cast), vb.astype(cast)
                assert va.dtype == vb.dtype and np.array_equal(va, vb), (split, key)


@needs_simbench
def test_build_is_bit_identical(two_builds: tuple[dict[str, Any], dict[str, Any]]) -> None:
    a, b = two_builds
    _assert_same(a, b)
    for split in a:
        for key in HOURLY_KEYS:
            assert a[split][key].dtype == np.float32
            assert a[split][key].tobytes() == b[split][key].tobytes()


@needs_simbench
def test_bundled_file_matches_fresh_build(
    two_builds: tuple[dict[str, Any], dict[str, Any]], bundled: dict[str, Any]
) -> None:
    """Guards against editing build.py without regenerating the shipped file."""
    _assert_same(two_builds[0], bundled, cast=np.float32)


@needs_simbench
def test_build_seed_changes_only_price() -> None:
    from powergrid.data.build import build_dataset

    a, b = build_dataset(seed=1), build_dataset(seed=2)
    assert not np.array_equal(a["train"]["price"], b["train"]["price"])
    assert np.array_equal(a["train"]["load"], b["train"]["load"])


@needs_simbench
def test_saved_npz_is_byte_identical(tmp_path: Path) -> None:
    from powergrid.data.build import build_dataset, build_metadata

    ds = build_dataset()
    p1 = save_dataset(ds, tmp_path / "a.npz", meta=build_metadata())
    p2 = save_dataset(ds, tmp_path / "b.npz", meta=build_metadata())
    assert p1.read_bytes() == p2.read_bytes()


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".npz"])
def test_round_trip(tmp_path: Path, suffix: str) -> None:
    if suffix == ".parquet" and importlib.util.find_spec("pyarrow") is None:
        pytest.skip("pyarrow not installed")
    path = save_dataset(SYNTH, tmp_path / f"data{suffix}")
    back = load_dataset(path)
    # npz stores float32 by default; csv/parquet keep float64 exactly
    _assert_same(SYNTH, back, cast=np.float32 if suffix == ".npz" else np.float64)


def test_csv_round_trip_of_bundled_test_split(tmp_path: Path, bundled: dict[str, Any]) -> None:
    path = save_dataset(bundled, tmp_path / "full.csv")
    _assert_same(bundled, load_dataset(path))


def test_csv_without_split_column_uses_last_fifth_of_days(tmp_path: Path) -> None:
    n_days = 10
    n = 24 * n_days
    rows = "\n".join(f"{0.5},{0.1},{0.2},{30.0 + i}" for i in range(n))
    path = tmp_path / "nosplit.csv"
    path.write_text("load,solar,wind,price\n" + rows + "\n")
    ds = load_dataset(path)
    assert day_count(ds, "train") == 8 and day_count(ds, "test") == 2
    assert ds["test"]["price"][0] == 30.0 + 8 * 24  # test is the tail, in file order
    assert ds["test"]["day_index"].tolist() == [8, 9]


def test_pickle_loads_with_warning(tmp_path: Path) -> None:
    path = tmp_path / "data.pkl"
    guide_style = {s: {k: list(map(float, SYNTH[s][k])) for k in SERIES_KEYS} for s in SYNTH}
    path.write_bytes(pickle.dumps(guide_style))
    with pytest.warns(UnsafeFormatWarning, match="arbitrary code"):
        ds = load_dataset(path)
    assert ds["train"]["load"].dtype == np.float64
    assert np.array_equal(ds["train"]["load"], SYNTH["train"]["load"])


def test_npz_loading_never_unpickles(tmp_path: Path) -> None:
    path = tmp_path / "evil.npz"
    np.savez(path, train__load=np.array([object()], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle"):
        load_dataset(path)


def test_unknown_suffix_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="unsupported"):
        load_dataset(tmp_path / "data.xlsx")


# --------------------------------------------------------------------------- malformed input


def _corrupt(split: str, key: str, value: Any = None, *, delete: bool = False) -> dict[str, Any]:
    ds = _synthetic()
    if delete:
        del ds[split][key]
    else:
        ds[split][key] = value
    return ds


@pytest.mark.parametrize(
    ("ds", "key", "match"),
    [
        (_corrupt("train", "price", delete=True), "price", "missing"),
        (_corrupt("test", "wind", delete=True), "wind", "missing"),
        (_corrupt("train", "price", np.ones(24 * 3 - 1)), "price", "length"),
        (_corrupt("train", "load", np.ones(50)), "load", "multiple of 24"),
        (_corrupt("test", "load", -np.ones(48)), "load", "negative"),
        (_corrupt("train", "load", np.full(72, 1000.0)), "load", "absolute units"),
        (_corrupt("train", "solar", np.full(72, 2.0)), "solar", r"outside \[0, 1.5\]"),
        (_corrupt("test", "wind", np.full(48, -0.1)), "wind", "outside"),
        (_corrupt("train", "wind", np.array(["x"] * 72)), "wind", "dtype"),
        (_corrupt("train", "price", np.ones((72, 2))), "price", "shape"),
        (_corrupt("train", "load_profile_names", ["a"]), "load_profile_names", "names"),
        (_corrupt("train", "load_profile_names", delete=True), "load_profiles", "names"),
        (_corrupt("test", "day_index", np.array([0, 5])), "day_index", "both"),
        (_corrupt("test", "day_index", np.array([7])), "day_index", "per day"),
    ],
)
def test_malformed_dataset_names_key(ds: dict[str, Any], key: str, match: str) -> None:
    with pytest.raises(DatasetError, match=match) as info:
        validate_dataset(ds)
    err = info.value
    assert err.key == key and err.split in ("train", "test")
    assert str(err).startswith(f"dataset[{err.split!r}][{key!r}]: ")  # names split and key
    assert ";" in str(err)  # "problem; what to do about it"


def test_missing_split_is_reported() -> None:
    ds = _synthetic()
    del ds["test"]
    with pytest.raises(DatasetError, match="'test'") as info:
        validate_dataset(ds)
    assert info.value.split == "test"
    with pytest.raises(DatasetError, match="dict"):
        validate_dataset([1, 2, 3])


@settings(max_examples=40, deadline=None)
@given(
    split=st.sampled_from(["train", "test"]),
    key=st.sampled_from(["load", "solar", "wind", "price", "load_profiles"]),
    pos=st.integers(min_value=0, max_value=47),
    bad=st.sampled_from([np.nan, np.inf, -np.inf]),
)
def test_non_finite_values_name_key(split: str, key: str, pos: int, bad: float) -> None:
    ds = _synthetic()
    arr = ds[split][key].copy()
    arr[pos] = bad
    ds[split][key] = arr
    with pytest.raises(DatasetError, match=f"non-finite.*first at hour {pos}") as info:
        validate_dataset(ds)
    assert (info.value.key, info.value.split) == (key, split)


def _write_csv(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def _rows(n: int, split: str | None = None, price: str = "40") -> list[str]:
    pre = f"{split}," if split else ""
    return [f"{pre}0.5,0.1,0.2,{price}" for _ in range(n)]


def test_csv_missing_column(tmp_path: Path) -> None:
    path = _write_csv(
        tmp_path / "a.csv", "split,load,solar,wind", [r[:-3] for r in _rows(48, "train")]
    )
    with pytest.raises(DatasetError, match="missing") as info:
        load_dataset(path)
    assert info.value.key == "price" and "'price'" in str(info.value)


def test_csv_nan_names_key_and_split(tmp_path: Path) -> None:
    rows = _rows(48, "train") + _rows(23, "test") + ["test,0.5,0.1,0.2,"]
    path = _write_csv(tmp_path / "a.csv", "split,load,solar,wind,price", rows)
    with pytest.raises(DatasetError, match=r"\['test'\]\['price'\].*NaN.*hour 23"):
        load_dataset(path)


def test_csv_wrong_length_and_bad_values(tmp_path: Path) -> None:
    path = _write_csv(
        tmp_path / "a.csv", "split,load,solar,wind,price", _rows(48, "train") + _rows(30, "test")
    )
    with pytest.raises(DatasetError, match="multiple of 24") as info:
        load_dataset(path)
    assert (info.value.key, info.value.split) == ("load", "test")

    rows = _rows(48, "train") + ["test,-0.5,0.1,0.2,40"] + _rows(23, "test")
    path = _write_csv(tmp_path / "b.csv", "split,load,solar,wind,price", rows)
    with pytest.raises(DatasetError, match="negative") as info:
        load_dataset(path)
    assert info.value.key == "load"

    path = _write_csv(
        tmp_path / "c.csv", "split,load,solar,wind,price", _rows(48, "train") + _rows(24, "valid")
    )
    with pytest.raises(DatasetError, match="valid") as info:
        load_dataset(path)
    assert info.value.key == "split"

    path = _write_csv(
        tmp_path / "d.csv",
        "split,load,solar,wind,price",
        _rows(48, "train") + _rows(24, "test", price="cheap"),
    )
    with pytest.raises(DatasetError, match="non-numeric") as info:
        load_dataset(path)
    assert info.value.key == "price"

    path = _write_csv(tmp_path / "e.csv", "split,load,solar,wind,price", _rows(48, "test"))
    with pytest.raises(DatasetError, match="no rows") as info:
        load_dataset(path)
    assert info.value.split == "train"


def test_csv_without_test_rows_evaluates_in_sample(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "e.csv", "split,load,solar,wind,price", _rows(48, "train"))
    with pytest.warns(InSampleEvaluationWarning, match="in-sample"):
        ds = load_dataset(path)
    assert np.array_equal(ds["test"]["load"], ds["train"]["load"])


# --------------------------------------------------------------------------- episode slicing


@settings(max_examples=60, deadline=None)
@given(
    split=st.sampled_from(["train", "test"]),
    start=st.integers(min_value=-500, max_value=500),
    n_steps=st.integers(min_value=0, max_value=300),
)
def test_episode_slice_wraps(split: str, start: int, n_steps: int) -> None:
    data = SYNTH[split]
    n = len(data["load"])
    window = episode_slice(SYNTH, split, start, n_steps)
    assert len(window["hour_index"]) == n_steps
    expected_idx = [(start + i) % n for i in range(n_steps)]
    assert window["hour_index"].tolist() == expected_idx
    for key in ("load", "solar", "wind", "price", "load_profiles"):
        assert window[key].shape[0] == n_steps
        assert np.array_equal(window[key], data[key][expected_idx])
    assert window["load_profile_names"] == data["load_profile_names"]
    assert "day_index" not in window


def test_episode_slice_on_bundled_crosses_split_end(bundled: dict[str, Any]) -> None:
    n = len(bundled["test"]["load"])
    window = episode_slice(bundled, "test", n - 5, 24)
    assert np.array_equal(window["price"][:5], bundled["test"]["price"][-5:])
    assert np.array_equal(window["price"][5:], bundled["test"]["price"][:19])
    assert window["load_profiles"].shape == (24, len(bundled["test"]["load_profile_names"]))


def test_episode_slice_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="n_steps"):
        episode_slice(SYNTH, "train", 0, -1)
    with pytest.raises(DatasetError, match="valid"):
        episode_slice(SYNTH, "valid", 0, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert day_count(SYNTH, "test") == 2


# --------------------------------------------------------------------------- guide shorthands


def _pickle(tmp_path: Path, ds: Any, name: str = "data.pkl") -> Path:
    path = tmp_path / name
    path.write_bytes(pickle.dumps(ds))
    return path


def test_daily_profile_of_24_values_is_tiled_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ds = _synthetic()
    day = np.linspace(0.0, 1.0, 24)
    ds["test"]["solar"] = day
    ds["train"]["load_profiles"] = ds["train"]["load_profiles"][:24]
    with caplog.at_level(logging.INFO, logger="powergrid.data.dataset"):
        with pytest.warns(UnsafeFormatWarning):
            out = load_dataset(_pickle(tmp_path, ds))
    assert np.array_equal(out["test"]["solar"], np.tile(day, 2))
    assert np.array_equal(out["train"]["load_profiles"], np.tile(ds["train"]["load_profiles"], (3, 1)))
    assert np.array_equal(out["train"]["solar"], ds["train"]["solar"])  # full length: untouched
    messages = [r.getMessage() for r in caplog.records if r.name == "powergrid.data.dataset"]
    assert any("['test']['solar']" in m and "daily profile" in m for m in messages)
    assert any("['train']['load_profiles']" in m for m in messages)
    assert len(messages) == 2
    assert ds["test"]["solar"] is day  # the input dict is not modified


@settings(max_examples=30, deadline=None)
@given(
    split=st.sampled_from(["train", "test"]),
    key=st.sampled_from(["solar", "wind", "price"]),
    length=st.integers(min_value=1, max_value=200).filter(lambda n: n != 24),
)
def test_only_exactly_24_values_are_a_daily_profile(split: str, key: str, length: int) -> None:
    ds = _synthetic()
    n_hours = len(ds[split]["load"])
    ds[split][key] = np.full(length, 0.5)
    if length == n_hours:
        validate_dataset(normalize_dataset(ds))
        return
    with pytest.raises(DatasetError, match=f"has length {length} but 'load' has {n_hours}") as info:
        validate_dataset(normalize_dataset(ds))
    assert (info.value.key, info.value.split) == (key, split)
    assert "exactly 24 for a daily profile" in str(info.value)  # the fix


@pytest.mark.parametrize("test_split", ["missing", {}, None])
def test_missing_or_empty_test_split_copies_train_with_warning(
    tmp_path: Path, test_split: Any
) -> None:
    ds = _synthetic()
    if test_split == "missing":
        del ds["test"]
    else:
        ds["test"] = test_split
    with pytest.warns(UnsafeFormatWarning), pytest.warns(InSampleEvaluationWarning, match="in-sample"):
        out = load_dataset(_pickle(tmp_path, ds))
    for key in SERIES_KEYS + ("load_profiles",):
        assert np.array_equal(out["test"][key], out["train"][key])
    assert "day_index" not in out["test"]  # else it would be rejected as train/test overlap
    out["test"]["load"][0] = 0.123  # a copy: changing test does not change train
    assert out["train"]["load"][0] != 0.123


def test_empty_test_split_is_still_an_error_for_validate_dataset() -> None:
    ds = _synthetic()
    ds["test"] = {}
    with pytest.raises(DatasetError, match="is empty.*copy 'train'") as info:
        validate_dataset(ds)
    assert info.value.split == "test"


# --------------------------------------------------------------------------- strict pickle mode


def test_strict_mode_refuses_pickle_before_opening_it(hostile_pickle_setup: Any) -> None:
    _, data, marker = hostile_pickle_setup
    with pytest.raises(PickleRefusedError) as info:
        load_dataset(data, allow_pickle=False)
    msg = str(info.value)
    assert "allow_pickle=False" in msg and "runs any code" in msg
    assert f"save_dataset(load_dataset({str(data)!r}), 'data.npz')" in msg
    assert not marker.exists()
    assert isinstance(info.value, DatasetError)
    with pytest.warns(UnsafeFormatWarning):
        load_dataset(data)  # default: allowed, with the warning; the payload really runs
    assert marker.exists()


def test_strict_mode_still_loads_safe_formats(tmp_path: Path) -> None:
    path = save_dataset(_synthetic(), tmp_path / "data.npz")
    assert day_count(load_dataset(path, allow_pickle=False), "test") == 2


# --------------------------------------------------------------------------- magnitudes


def test_huge_price_is_rejected_with_hour_and_bound() -> None:
    ds = _corrupt("test", "price", np.full(48, 40.0))
    ds["test"]["price"][7] = 1e300
    with pytest.raises(DatasetError, match=r"above MAX_ABS_PRICE = 100000 \$/MWh.*first at hour 7: 1e\+300"):
        validate_dataset(ds)
    ds["test"]["price"][7] = -MAX_ABS_PRICE  # negative prices are real; the bound is |price|
    validate_dataset(ds)


_BAD_VALUES = {
    "price": st.floats(min_value=MAX_ABS_PRICE, exclude_min=True, allow_infinity=False)
    | st.floats(max_value=-MAX_ABS_PRICE, exclude_max=True, allow_infinity=False),
    "load": st.floats(max_value=-1e-300, allow_infinity=False)
    | st.floats(min_value=10.0, exclude_min=True, allow_infinity=False),
    "load_profiles": st.floats(min_value=10.0, exclude_min=True, allow_infinity=False),
    "solar": st.floats(min_value=MAX_CAPACITY_FACTOR, exclude_min=True, allow_infinity=False)
    | st.floats(max_value=-1e-300, allow_infinity=False),
    "wind": st.floats(min_value=MAX_CAPACITY_FACTOR, exclude_min=True, allow_infinity=False),
}


@settings(max_examples=80, deadline=None)
@given(
    split=st.sampled_from(["train", "test"]),
    key=st.sampled_from(sorted(_BAD_VALUES)),
    pos=st.integers(min_value=0, max_value=47),
    data=st.data(),
)
def test_out_of_range_values_name_key_split_and_first_hour(
    split: str, key: str, pos: int, data: st.DataObject
) -> None:
    bad = data.draw(_BAD_VALUES[key] | st.sampled_from([np.nan, np.inf, -np.inf]), label="bad")
    ds = _synthetic()
    arr = ds[split][key].copy()
    arr[pos] = bad  # for load_profiles: the whole row
    arr[pos + 1 :] = bad  # later bad values must not hide the first one
    ds[split][key] = arr
    where = f"first at hour {pos}" + (", column 0" if arr.ndim == 2 else "")
    with pytest.raises(DatasetError) as info:
        validate_dataset(ds)
    assert (info.value.key, info.value.split) == (key, split)
    assert where in str(info.value)
