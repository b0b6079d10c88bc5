"""State-space sequence layers: HiPPO/S4/S4D, Mamba, Mamba-2 with agreeing modes."""

from importlib.metadata import version as _version

__version__ = _version("ssm-core")

__all__ = ["__version__"]
