"""Mechanistic interpretability: hooks, patching, sparse autoencoders, compact proofs."""

from importlib.metadata import version as _version

__version__ = _version("interp-tools")

__all__ = ["__version__"]
