"""Small models and correlated data shared by the tests."""

import pytest
import torch
from torch import nn

from accelerator_utils import limit_threads


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """Tiny tensors: one thread avoids OpenMP spin-waits on a shared, loaded machine."""
    with limit_threads(1):
        yield


def correlated_inputs(n_rows: int, dim: int, seed: int = 0) -> torch.Tensor:
    """Anisotropic inputs (rows, dim): a random mixing of channels with decaying scales."""
    g = torch.Generator().manual_seed(seed)
    scales = torch.logspace(0, -2, dim, dtype=torch.float64)
    mix = torch.linalg.qr(torch.randn(dim, dim, generator=g, dtype=torch.float64))[0]
    return (torch.randn(n_rows, dim, generator=g, dtype=torch.float64) * scales) @ mix


class MLP(nn.Module):
    def __init__(self, d_in: int = 24, d_hidden: int = 48, d_out: int = 16) -> None:
        super().__init__()
        self.fc1 = nn.Linear(d_in, d_hidden)
        self.fc2 = nn.Linear(d_hidden, d_hidden)
        self.fc3 = nn.Linear(d_hidden, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc3(torch.tanh(self.fc2(torch.tanh(self.fc1(x)))))


@pytest.fixture(name="correlated_inputs")
def correlated_inputs_fixture():
    return correlated_inputs


@pytest.fixture
def mlp_and_data():
    torch.manual_seed(0)
    model = MLP().double()
    x = correlated_inputs(512, 24)
    return model, [x[i : i + 128] for i in range(0, 512, 128)]
