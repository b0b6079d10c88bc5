"""Small models with named hook points."""

from interp_tools.models.transformer import PatchingSplit, Transformer, TransformerConfig

__all__ = ["PatchingSplit", "Transformer", "TransformerConfig"]
