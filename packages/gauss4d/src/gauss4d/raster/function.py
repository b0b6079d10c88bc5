"""Custom autograd Function: composite without a graph, analytic gradients in backward.

Forward keeps only the inputs and the int64 pair lists, so a training step holds O(pairs)
memory once instead of every intermediate of the compositing graph. Forward reuses the pair
alphas of the enumeration; backward evaluates them again and applies the closed-form
gradients of ``composite_vjp`` (tested against autograd through ``composite``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from gauss4d.raster.composite import composite, composite_vjp
from gauss4d.raster.config import RasterConfig


class CompositeFunction(torch.autograd.Function):
    """``composite`` as one autograd node returning (color (P,C), alpha (P,), depth (P,))."""

    @staticmethod
    def forward(ctx, *inputs):
        """``inputs``: the arguments of :func:`composite_recompute`, in its order."""
        with torch.no_grad():
            out = composite(*inputs)
        ctx.save_for_backward(*inputs[:8])  # 6 float inputs, pixel, gauss
        ctx.meta = inputs[8:11]  # width, height, cfg
        return out.color, out.alpha, out.depth

    @staticmethod
    def backward(ctx, g_color, g_alpha, g_depth):
        *floats, pixel, gauss = ctx.saved_tensors
        width, _, cfg = ctx.meta
        grads = composite_vjp(*floats, pixel, gauss, width, cfg, g_color, g_alpha, g_depth)
        floats = [gr if n else None for gr, n in zip(grads, ctx.needs_input_grad)]
        return (*floats, *[None] * 6)  # no gradients for pixel, gauss, width, height, cfg, alpha


def composite_recompute(
    means2d: Tensor,
    conics: Tensor,
    opacities: Tensor,
    colors: Tensor,
    depths: Tensor,
    background: Tensor,
    pixel: Tensor,
    gauss: Tensor,
    width: int,
    height: int,
    cfg: RasterConfig,
    alpha: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Memory-lean ``composite``: (color (P,C), alpha (P,), depth (P,)). ``alpha`` (M,):
    the pairs' alphas from the enumeration (``Pairs.alpha``), skipping their re-evaluation in
    the forward; gradients are the same either way."""
    return CompositeFunction.apply(
        means2d,
        conics,
        opacities,
        colors,
        depths,
        background,
        pixel,
        gauss,
        width,
        height,
        cfg,
        alpha,
    )
