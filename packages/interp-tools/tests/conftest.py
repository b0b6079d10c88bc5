"""Tests run single-threaded: the suite is many tiny ops, where thread hand-offs only cost."""

import torch

torch.set_num_threads(1)
