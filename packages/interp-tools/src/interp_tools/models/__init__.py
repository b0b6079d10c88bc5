"""Small models with named hook points."""

from interp_tools.models.transformer import Transformer, TransformerConfig

__all__ = ["Transformer", "TransformerConfig"]
