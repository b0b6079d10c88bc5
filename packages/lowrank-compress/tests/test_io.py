"""Save/load: identical outputs, in this process and in a fresh one; corrupted files refused."""

import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

from lowrank_compress import compress, tucker2_conv
from lowrank_compress.io import load_compressed, read_manifest, save_compressed

# Built the same way here and in the fresh process.
NET = """
torch.manual_seed(0)
net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Flatten(),
                    nn.Linear(128, 32), nn.ReLU(), nn.Linear(32, 10))
"""


def make_net() -> nn.Module:
    scope = {"torch": torch, "nn": nn}
    exec(NET, scope)
    return scope["net"]


def _compressed():
    model = compress(make_net(), 0.5, "svd").model
    model[0] = tucker2_conv(model[0], 4, 2)
    return model


def test_roundtrip_same_process(tmp_path):
    model = _compressed()
    save_compressed(model, tmp_path, {"method": "svd"})
    manifest = read_manifest(tmp_path)
    assert manifest["layers"]["3"]["kind"] == "lowrank_linear"
    assert manifest["layers"]["0"] == {"kind": "tucker2_conv2d", "rank_out": 4, "rank_in": 2}
    assert manifest["metadata"] == {"method": "svd"}
    loaded = load_compressed(make_net(), tmp_path)
    x = torch.randn(2, 3, 4, 4)
    assert torch.equal(loaded(x), model(x))


def test_roundtrip_fresh_process(tmp_path):
    model = _compressed()
    save_compressed(model, tmp_path)
    x = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    torch.save({"x": x, "y": model(x).detach()}, tmp_path / "io.pt")
    script = textwrap.dedent(f"""
        import torch
        from torch import nn
        from lowrank_compress.io import load_compressed
        torch.set_num_threads(1)  # the same kernels as the saving process (its tests pin 1)
        exec({NET!r})
        d = torch.load({str(tmp_path / "io.pt")!r})
        m = load_compressed(net, {str(tmp_path)!r})
        assert torch.equal(m(d["x"]), d["y"]), "outputs differ"
        print("identical")
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "identical" in out.stdout


def test_corrupt_or_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"manifest\.json"):
        load_compressed(make_net(), tmp_path)
    save_compressed(_compressed(), tmp_path)
    data = bytearray((tmp_path / "model.safetensors").read_bytes())
    data[-1] ^= 1
    (tmp_path / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="SHA-256"):
        load_compressed(make_net(), tmp_path)
