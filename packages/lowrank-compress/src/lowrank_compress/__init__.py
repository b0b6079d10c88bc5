"""Post-training low-rank compression of PyTorch models."""

from importlib.metadata import version as _version

__version__ = _version("lowrank-compress")

__all__ = ["__version__"]
