"""Custom autograd Function: composite without a graph, recompute it in backward.

Forward keeps only the inputs and the int64 pair lists, so a training step holds O(pairs)
memory once instead of every intermediate of the compositing graph. Forward reuses the pair
alphas of the enumeration; backward evaluates them again, with their graph.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gauss4d.raster.composite import composite
from gauss4d.raster.config import RasterConfig

_FLOAT_INPUTS = 6  # means2d, conics, opacities, colors, depths, background


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
        width, height, cfg = ctx.meta
        needs = ctx.needs_input_grad[:_FLOAT_INPUTS]
        leaves = [t.detach().requires_grad_(n) for t, n in zip(floats, needs)]
        with torch.enable_grad():
            out = composite(*leaves, pixel, gauss, width, height, cfg)
            wanted = [t for t in leaves if t.requires_grad]
            # A scalar surrogate <outputs, grad_outputs>: same gradients, and it avoids
            # autograd's (slow, one-off) import of symbolic-shape checks for tensor grad_outputs.
            surrogate = (
                (out.color * g_color).sum()
                + (out.alpha * g_alpha).sum()
                + (out.depth * g_depth).sum()
            )
            grads = torch.autograd.grad(surrogate, wanted, allow_unused=True)
        it = iter(grads)
        result = [next(it) if t.requires_grad else None for t in leaves]
        result = [
            torch.zeros_like(t) if g is None and t.requires_grad else g
            for g, t in zip(result, leaves)
        ]
        return (*result, None, None, None, None, None, None)


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
