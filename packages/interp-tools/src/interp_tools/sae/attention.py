"""Attention-output SAEs (Kissane et al. 2024): SAEs on the concatenated per-head outputs z.

Train with ``train_sae(attention_output_activations(...), SAEConfig(n_heads·d_head, ...))``;
``head_attribution`` then says which heads each latent reads from, by decoder-weight norms.
"""

from __future__ import annotations

import torch
from torch import nn

from interp_tools.hooks import run_with_cache
from interp_tools.sae.model import SparseAutoencoder


@torch.no_grad()
def attention_output_activations(
    model: nn.Module, tokens: torch.Tensor, layer: int
) -> torch.Tensor:
    """``blocks.{layer}.attn.hook_z`` [B, T, H, d_head] flattened to [B·T, H·d_head]."""
    site = f"blocks.{layer}.attn.hook_z"
    _, cache = run_with_cache(model, tokens, names=[site])
    z = cache[site]
    return z.reshape(-1, z.shape[-2] * z.shape[-1])


@torch.no_grad()
def head_attribution(sae: SparseAutoencoder, n_heads: int) -> torch.Tensor:
    """[d_sae, n_heads]: share of each latent's squared decoder norm in each head's block."""
    d = sae.cfg.d_in
    if d % n_heads:
        raise ValueError(f"SAE width {d} is not a multiple of n_heads={n_heads}")
    blocks = sae.W_dec.view(sae.cfg.d_sae, n_heads, d // n_heads).pow(2).sum(-1)
    return blocks / blocks.sum(-1, keepdim=True).clamp_min(1e-30)
