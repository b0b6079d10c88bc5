"""Straight-through estimators of JumpReLU (Rajamanoharan et al. 2024, arXiv:2407.14435).

A rectangle kernel of width ε gives pseudo-derivatives with respect to the threshold θ:
∂/∂θ [z·H(z−θ)] ≈ −(θ/ε)·K((z−θ)/ε) and ∂/∂θ H(z−θ) ≈ −(1/ε)·K((z−θ)/ε), K = 1[|u| < ½].
"""

from __future__ import annotations

import torch


def _rect(u: torch.Tensor) -> torch.Tensor:
    return ((u > -0.5) & (u < 0.5)).to(u.dtype)


class _JumpReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z: torch.Tensor, threshold: torch.Tensor, bandwidth: float) -> torch.Tensor:
        ctx.save_for_backward(z, threshold)
        ctx.bandwidth = bandwidth
        return z * (z > threshold).to(z.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        z, threshold = ctx.saved_tensors
        eps = ctx.bandwidth
        grad_z = grad * (z > threshold).to(z.dtype)
        grad_t = -(threshold / eps) * _rect((z - threshold) / eps) * grad
        return grad_z, grad_t.sum(dim=0), None


class _Step(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z: torch.Tensor, threshold: torch.Tensor, bandwidth: float) -> torch.Tensor:
        ctx.save_for_backward(z, threshold)
        ctx.bandwidth = bandwidth
        return (z > threshold).to(z.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        z, threshold = ctx.saved_tensors
        eps = ctx.bandwidth
        grad_t = -(1.0 / eps) * _rect((z - threshold) / eps) * grad
        return torch.zeros_like(z), grad_t.sum(dim=0), None


def jumprelu(z: torch.Tensor, threshold: torch.Tensor, bandwidth: float) -> torch.Tensor:
    """z·H(z − θ); ``z``: [N, d_sae], ``threshold``: [d_sae]."""
    return _JumpReLU.apply(z, threshold, bandwidth)


def step(z: torch.Tensor, threshold: torch.Tensor, bandwidth: float) -> torch.Tensor:
    """H(z − θ) with a straight-through gradient for θ only."""
    return _Step.apply(z, threshold, bandwidth)
