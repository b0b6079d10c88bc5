"""Explaining graph neural networks: SubgraphX and the standard explainers."""

from importlib.metadata import version as _version

__version__ = _version("gnn-explain")

__all__ = ["__version__"]
