import pytest
import torch

from accelerator_utils import matmul_precision, resolve_device, resolve_dtype
from accelerator_utils.precision import get_matmul_precision


def test_auto_and_cpu_resolve():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device(None).type == expected


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without CUDA")
def test_absent_cuda_raises_clearly():
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        resolve_device("cuda:0")


def test_unknown_device_is_value_error():
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu-ish")


def test_mps_is_opt_in():
    # without allow_mps, auto never picks MPS
    assert resolve_device("auto").type != "mps"


def test_resolve_dtype_names_and_errors():
    assert resolve_dtype("float64") is torch.float64
    assert resolve_dtype("bf16") is torch.bfloat16
    assert resolve_dtype(torch.float32) is torch.float32
    with pytest.raises(ValueError, match="unknown dtype"):
        resolve_dtype("float7")
    with pytest.raises(ValueError, match="floating"):
        resolve_dtype(torch.int64)
    with pytest.raises(ValueError, match="MPS"):
        resolve_dtype("float64", "mps")


def test_matmul_precision_is_restored():
    before = get_matmul_precision()
    with matmul_precision("medium"):
        assert get_matmul_precision() == "medium"
    assert get_matmul_precision() == before
    with pytest.raises(ValueError):
        with matmul_precision("fastest"):  # type: ignore[arg-type]
            pass
    assert get_matmul_precision() == before


def test_each_level_round_trips():
    before = get_matmul_precision()
    for level in ("highest", "high", "medium"):
        with matmul_precision(level):
            assert get_matmul_precision() == level
    assert get_matmul_precision() == before
