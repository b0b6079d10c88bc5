import json

import numpy as np
import pytest
import torch

from accelerator_utils import (
    atomic_torch_save,
    atomic_write,
    atomic_write_json,
    check_finite,
    check_shape,
    limit_threads,
    progress,
    thread_info,
)


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "out.json"
    atomic_write_json(target, {"v": 1})
    with pytest.raises(RuntimeError):
        with atomic_write(target, "w") as fh:
            fh.write('{"v": 2, "half')
            raise RuntimeError("crash mid-write")
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temp file left


def test_atomic_json_refuses_nan(tmp_path):
    with pytest.raises(ValueError):
        atomic_write_json(tmp_path / "x.json", {"v": float("nan")})
    assert not (tmp_path / "x.json").exists()


def test_atomic_torch_save_roundtrip(tmp_path):
    atomic_torch_save({"w": torch.arange(3)}, tmp_path / "sub" / "ckpt.pt")
    assert torch.equal(torch.load(tmp_path / "sub" / "ckpt.pt")["w"], torch.arange(3))


def test_progress_silent_off_tty_and_counts():
    bar = progress(range(5), enabled=False)
    assert list(bar) == [0, 1, 2, 3, 4]
    assert bar.n == 5 and bar.total == 5
    manual = progress(total=3, enabled=False)
    manual.update(2)
    assert manual.n == 2


def test_progress_enabled_uses_tqdm():
    bar = progress(range(3), enabled=True, desc="x")
    assert type(bar).__module__.startswith("tqdm")
    assert list(bar) == [0, 1, 2]


def test_check_finite_names_the_problem():
    check_finite(np.ones(3), "x")
    check_finite(torch.arange(3), "ints")
    with pytest.raises(ValueError, match=r"Y contains 1 non-finite value.*index \(1, 0\)"):
        check_finite(torch.tensor([[1.0], [float("nan")]]), "Y")


def test_check_shape():
    check_shape(torch.zeros(2, 3), (None, 3), "w")
    with pytest.raises(ValueError, match=r"w must have shape \(\*, 4\), got \(2, 3\)"):
        check_shape(torch.zeros(2, 3), (None, 4), "w")


def test_limit_threads_sets_and_restores():
    before = torch.get_num_threads()
    with limit_threads(1):
        assert torch.get_num_threads() == 1
        info = thread_info()
        assert info["torch_threads"] == 1
        assert all(p["threads"] == 1 for p in info["blas"])
    assert torch.get_num_threads() == before
