"""Post-training low-rank compression of PyTorch models."""

from importlib.metadata import version as _version

__version__ = _version("lowrank-compress")

from lowrank_compress.compress import (
    CompressConfig,
    CompressionReport,
    CompressionResult,
    LayerReport,
    compress,
)
from lowrank_compress.layers import LowRankLinear, break_even_rank
from lowrank_compress.tucker import Tucker2Conv2d, tucker2_conv

__all__ = [
    "CompressConfig",
    "CompressionReport",
    "CompressionResult",
    "LayerReport",
    "LowRankLinear",
    "Tucker2Conv2d",
    "__version__",
    "break_even_rank",
    "compress",
    "tucker2_conv",
]
