"""Save and load SAEs: ``sae.safetensors`` (weights) + ``config.json``, both written atomically."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from accelerator_utils import atomic_write, atomic_write_json
from interp_tools.sae.config import SAEConfig
from interp_tools.sae.model import SparseAutoencoder


def save_sae(sae: SparseAutoencoder, directory: str | Path) -> Path:
    """Write the SAE into ``directory``; returns the directory."""
    from safetensors.torch import save

    directory = Path(directory)
    tensors = {k: v.detach().cpu().contiguous() for k, v in sae.state_dict().items()}
    with atomic_write(directory / "sae.safetensors") as handle:
        handle.write(save(tensors))
    atomic_write_json(directory / "config.json", sae.cfg.to_dict())
    return directory


def load_sae(directory: str | Path, device: torch.device | str = "cpu") -> SparseAutoencoder:
    """Load an SAE saved by ``save_sae``."""
    from safetensors.torch import load_file

    directory = Path(directory)
    for name in ("config.json", "sae.safetensors"):
        if not (directory / name).is_file():
            raise FileNotFoundError(f"{directory / name} is missing; save the SAE with save_sae")
    cfg = SAEConfig(**json.loads((directory / "config.json").read_text()))
    sae = SparseAutoencoder(cfg, device=device)
    sae.load_state_dict(load_file(directory / "sae.safetensors", device=str(device)))
    return sae.eval()
