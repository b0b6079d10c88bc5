"""Sparse autoencoder with five encoders: ReLU+L1, TopK(+AuxK), BatchTopK, JumpReLU, Gated.

x̂ = f(x) W_dec + b_dec, f(x) = σ((x − b_dec) W_enc + b_enc) with σ set by ``kind``.
Shapes: x [N, d_in], latents [N, d_sae], W_enc [d_in, d_sae], W_dec [d_sae, d_in].
Loss terms are means over tokens of per-token sums (MSE: Σ_d (x − x̂)²).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from interp_tools.sae.config import SAEConfig
from interp_tools.sae.jumprelu import jumprelu, step


@dataclass
class SAEOutput:
    """recon [N, d_in], latents [N, d_sae]; loss = mse + sparsity + aux (scalars)."""

    recon: torch.Tensor
    latents: torch.Tensor
    loss: torch.Tensor
    mse: torch.Tensor
    sparsity: torch.Tensor
    aux: torch.Tensor


def _topk_mask(values: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k largest entries of each row (others 0)."""
    top = values.topk(k, dim=-1)
    return torch.zeros_like(values).scatter(-1, top.indices, top.values)


class SparseAutoencoder(nn.Module):
    """An SAE; ``cfg.kind`` picks the encoder nonlinearity and sparsity loss."""

    def __init__(
        self,
        cfg: SAEConfig,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        self.cfg = cfg
        w = torch.randn(cfg.d_sae, cfg.d_in, generator=generator, dtype=dtype)
        w = (w / w.norm(dim=1, keepdim=True)).to(device)
        self.W_dec = nn.Parameter(w)
        self.W_enc = nn.Parameter(w.T.clone())
        self.b_enc = nn.Parameter(torch.zeros(cfg.d_sae, device=device, dtype=dtype))
        self.b_dec = nn.Parameter(torch.zeros(cfg.d_in, device=device, dtype=dtype))
        if cfg.kind == "gated":
            self.r_mag = nn.Parameter(torch.zeros(cfg.d_sae, device=device, dtype=dtype))
            self.b_mag = nn.Parameter(torch.zeros(cfg.d_sae, device=device, dtype=dtype))
        if cfg.kind == "jumprelu":
            init = torch.full((cfg.d_sae,), cfg.jump_init_threshold, device=device, dtype=dtype)
            self.log_threshold = nn.Parameter(init.log())
        if cfg.kind == "batchtopk":
            # Inference threshold: running mean of the smallest kept activation (Bussmann et al.).
            self.register_buffer("threshold", torch.tensor(-1.0, device=device, dtype=dtype))

    def _check(self, x: torch.Tensor) -> None:
        if x.ndim != 2 or x.shape[1] != self.cfg.d_in:
            raise ValueError(
                f"SAE expects activations [N, d_in={self.cfg.d_in}], got {tuple(x.shape)}; "
                "hook the site whose width matches the SAE or build an SAE with this d_in"
            )

    def pre_acts(self, x: torch.Tensor) -> torch.Tensor:
        """(x − b_dec) W_enc + b_enc: [N, d_sae]."""
        return (x - self.b_dec) @ self.W_enc + self.b_enc

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Sparse latents [N, d_sae] of ``x`` [N, d_in] (inference behaviour)."""
        self._check(x)
        pre = self.pre_acts(x)
        kind = self.cfg.kind
        if kind == "relu":
            return torch.relu(pre)
        if kind == "topk":
            return _topk_mask(torch.relu(pre), self.cfg.k)
        if kind == "batchtopk":
            if self.training or self.threshold < 0:
                return self._batch_topk(torch.relu(pre))
            return torch.relu(pre) * (pre > self.threshold)
        if kind == "jumprelu":
            return jumprelu(pre, self.log_threshold.exp(), self.cfg.jump_bandwidth)
        gate = (pre > 0).to(pre.dtype)
        mag = torch.relu((x - self.b_dec) @ (self.W_enc * self.r_mag.exp()) + self.b_mag)
        return gate * mag

    def _batch_topk(self, acts: torch.Tensor) -> torch.Tensor:
        n_keep = min(self.cfg.k * acts.shape[0], acts.numel())
        flat = acts.flatten()
        top = flat.topk(n_keep)
        kept = torch.zeros_like(flat).scatter(0, top.indices, top.values).view_as(acts)
        if self.training:
            with torch.no_grad():
                positive = top.values[top.values > 0]
                if positive.numel():
                    low = positive.min()
                    t = self.threshold
                    t.copy_(low if t < 0 else 0.99 * t + 0.01 * low)
        return kept

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """latents [N, d_sae] → reconstruction [N, d_in]."""
        return latents @ self.W_dec + self.b_dec

    def forward(self, x: torch.Tensor, dead: torch.Tensor | None = None) -> SAEOutput:
        """Reconstruction and loss terms; ``dead`` [d_sae] bool marks dead latents (AuxK)."""
        latents = self.encode(x)
        recon = self.decode(latents)
        mse = (x - recon).pow(2).sum(-1).mean()
        zero = x.new_zeros(())
        sparsity, aux = zero, zero
        kind, cfg = self.cfg.kind, self.cfg
        norms = self.W_dec.norm(dim=1)
        if kind == "relu":
            sparsity = cfg.l1_coeff * (latents * norms).sum(-1).mean()
        elif kind == "jumprelu":
            pre = self.pre_acts(x)
            l0 = step(pre, self.log_threshold.exp(), cfg.jump_bandwidth)
            sparsity = cfg.l1_coeff * l0.sum(-1).mean()
        elif kind == "gated":
            gate_pre = torch.relu(self.pre_acts(x))
            sparsity = cfg.l1_coeff * (gate_pre * norms).sum(-1).mean()
            frozen = gate_pre @ self.W_dec.detach() + self.b_dec.detach()
            aux = (x - frozen).pow(2).sum(-1).mean()
        elif dead is not None and bool(dead.any()):
            aux = cfg.aux_coeff * self._aux_k(x, recon, dead)
        return SAEOutput(recon, latents, mse + sparsity + aux, mse, sparsity, aux)

    def _aux_k(self, x: torch.Tensor, recon: torch.Tensor, dead: torch.Tensor) -> torch.Tensor:
        """AuxK (Gao et al. 2024): dead latents' top-k_aux reconstruct the residual x − x̂."""
        residual = (x - recon).detach()
        pre = torch.relu(self.pre_acts(x)).masked_fill(~dead, 0.0)
        k = min(self.cfg.aux_k, int(dead.sum()))
        approx = _topk_mask(pre, k) @ self.W_dec
        return (residual - approx).pow(2).sum(-1).mean()

    @torch.no_grad()
    def normalize_decoder(self) -> None:
        """Scale decoder rows to unit norm; encoder columns (and thresholds) compensate.

        The output is unchanged exactly for relu, gated and jumprelu.
        """
        norms = self.W_dec.norm(dim=1).clamp_min(1e-12)
        self.W_dec.div_(norms[:, None])
        self.W_enc.mul_(norms[None, :])
        self.b_enc.mul_(norms)
        if self.cfg.kind == "gated":
            self.b_mag.mul_(norms)
        if self.cfg.kind == "jumprelu":
            self.log_threshold.add_(norms.log())

    @torch.no_grad()
    def remove_parallel_decoder_grad(self) -> None:
        """Project out the gradient component along each unit decoder row."""
        if self.W_dec.grad is not None:
            w = self.W_dec / self.W_dec.norm(dim=1, keepdim=True).clamp_min(1e-12)
            self.W_dec.grad -= (self.W_dec.grad * w).sum(1, keepdim=True) * w
