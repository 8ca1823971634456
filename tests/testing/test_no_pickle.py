"""heron.testing.no_pickle: every unpickling entry point raises inside the guard only."""

import io
import pickle

import numpy as np
import pytest

from heron.testing.no_pickle import UnpicklingForbidden, forbid_unpickling


def test_guard_blocks_every_unpickling_path_and_restores_them(tmp_path):
    torch = pytest.importorskip("torch")
    blob = pickle.dumps({"a": 1})
    torch.save({"w": torch.ones(2)}, tmp_path / "t.pt")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(tmp_path / "num.npy", np.arange(3))
    with forbid_unpickling():
        for call in (lambda: pickle.loads(blob), lambda: pickle.load(io.BytesIO(blob)),
                     lambda: pickle.Unpickler(io.BytesIO(blob)).load(),
                     lambda: torch.load(tmp_path / "t.pt", weights_only=False),
                     lambda: np.load(tmp_path / "obj.npy", allow_pickle=True)):
            with pytest.raises(UnpicklingForbidden):
                call()
        # tensor-only and plain-array reads stay allowed
        assert torch.equal(torch.load(tmp_path / "t.pt", weights_only=True)["w"], torch.ones(2))
        np.testing.assert_array_equal(np.load(tmp_path / "num.npy"), np.arange(3))
    assert pickle.loads(blob) == {"a": 1}
    assert torch.load(tmp_path / "t.pt", weights_only=False)["w"].sum() == 2
