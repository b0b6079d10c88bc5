"""Print the torch build and thread settings; fail if a CUDA build was installed by accident.

On these machines development and CI use the CPU wheel: a CUDA build means several GB of
unexpected downloads. Set ALLOW_CUDA_TORCH=1 on a GPU machine where the CUDA build is wanted.
"""

import json
import os
import sys

import torch

from accelerator_utils import thread_info

print(
    f"torch {torch.__version__} (CUDA build: {torch.version.cuda}); threads: {json.dumps(thread_info())}"
)
if torch.version.cuda is not None and os.environ.get("ALLOW_CUDA_TORCH") != "1":
    sys.exit(
        f"a CUDA build of torch ({torch.version.cuda}) was installed, but this run expects the "
        "CPU wheel: check UV_FIND_LINKS/UV_CONSTRAINT, or set ALLOW_CUDA_TORCH=1 on a GPU machine"
    )
