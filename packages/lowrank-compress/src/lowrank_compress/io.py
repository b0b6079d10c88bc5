"""Save and load compressed models: ``model.safetensors`` + ``manifest.json``, both atomic.

The manifest lists every factorized layer (kind, shapes, rank, bias) and the SHA-256 of the
tensor file, so :func:`load_compressed` can rebuild the layer structure on a freshly built
uncompressed model and refuse a tensor file that does not belong to the manifest.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors
from torch import nn

from accelerator_utils import atomic_write, atomic_write_json
from lowrank_compress.compress import replace_module
from lowrank_compress.layers import LowRankLinear
from lowrank_compress.tucker import Tucker2Conv2d, Tucker2Factors

FORMAT = "lowrank-compress/1"
TENSORS, MANIFEST = "model.safetensors", "manifest.json"


def _layer_entry(module: nn.Module) -> dict[str, Any] | None:
    if isinstance(module, LowRankLinear):
        return {"kind": "lowrank_linear", "in_features": module.in_features,
                "out_features": module.out_features, "rank": module.rank,
                "bias": module.bias is not None}
    if isinstance(module, Tucker2Conv2d):
        return {"kind": "tucker2_conv2d", "rank_out": module.rank_out, "rank_in": module.rank_in}
    return None


def save_compressed(model: nn.Module, directory: str | Path, metadata: dict[str, Any] | None = None
                    ) -> Path:
    """Write ``directory/model.safetensors`` then ``directory/manifest.json``; return the dir.

    ``metadata`` (JSON-serialisable: method, ratio, report...) is stored in the manifest.
    """
    directory = Path(directory)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    blob = save_tensors(state)
    with atomic_write(directory / TENSORS) as handle:
        handle.write(blob)
    layers = {name: e for name, m in model.named_modules() if (e := _layer_entry(m)) is not None}
    atomic_write_json(directory / MANIFEST, {
        "format": FORMAT, "layers": layers, "sha256": hashlib.sha256(blob).hexdigest(),
        "metadata": metadata or {}})
    return directory


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """The manifest of a saved model, checked for format."""
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"no {MANIFEST} in {directory}: is it a save_compressed output?")
    manifest = json.loads(path.read_text())
    if manifest.get("format") != FORMAT:
        raise ValueError(f"{path} has format {manifest.get('format')!r}, expected {FORMAT!r}")
    return manifest


def _skeleton(original: nn.Module, entry: dict[str, Any]) -> nn.Module:
    w = original.weight
    if entry["kind"] == "lowrank_linear":
        return LowRankLinear(entry["in_features"], entry["out_features"], entry["rank"],
                             entry["bias"], device=w.device, dtype=w.dtype)
    o, i, kh, kw = w.shape
    zeros = Tucker2Factors(w.new_zeros(o, entry["rank_out"]),
                           w.new_zeros(entry["rank_out"], entry["rank_in"], kh, kw),
                           w.new_zeros(i, entry["rank_in"]))
    return Tucker2Conv2d(original, zeros)


def load_compressed(model: nn.Module, directory: str | Path) -> nn.Module:
    """Turn a freshly built uncompressed ``model`` into the saved compressed one (in place)."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    tensor_path = directory / TENSORS
    if not tensor_path.is_file():
        raise FileNotFoundError(f"missing {tensor_path}")
    blob = tensor_path.read_bytes()
    if hashlib.sha256(blob).hexdigest() != manifest["sha256"]:
        raise ValueError(f"{tensor_path} does not match its manifest (SHA-256 differs)")
    modules = dict(model.named_modules())
    for name, entry in manifest["layers"].items():
        if name not in modules:
            raise ValueError(f"the manifest names layer {name!r}, absent from the given model")
        replace_module(model, name, _skeleton(modules[name], entry))
    model.load_state_dict(load_tensors(blob), strict=True)
    return model


def file_size_bytes(directory: str | Path) -> int:
    """Size of the saved tensor file."""
    return (Path(directory) / TENSORS).stat().st_size


__all__ = ["file_size_bytes", "load_compressed", "read_manifest", "save_compressed"]
