"""Tiny graphs and untrained (eval-mode) models shared by the tests."""

from __future__ import annotations

import networkx as nx
import pytest
import torch

from accelerator_utils import limit_threads
from gnn_explain.graph import Graph, from_networkx
from gnn_explain.nn import ModelConfig, build_model


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """Tiny graphs: one thread is fastest, and oversubscribed pools are many times slower."""
    with limit_threads(1):
        yield


def _house_graph(seed: int = 0, n_base: int = 8) -> Graph:
    """A small BA tree with a house attached; features drawn from ``seed``."""
    g = nx.disjoint_union(
        nx.barabasi_albert_graph(n_base, 1, seed=seed),
        nx.Graph([(0, 1), (1, 2), (2, 3), (3, 0), (4, 0), (4, 1)]),
    )
    g.add_edge(n_base, 0)
    x = torch.rand(g.number_of_nodes(), 4, generator=torch.Generator().manual_seed(seed))
    return from_networkx(g, x)


def _make_model(task: str, conv: str = "gcn", seed: int = 0, in_dim: int = 4):
    torch.manual_seed(seed)
    model = build_model(ModelConfig(in_dim, 3, hidden=8, num_layers=2, conv=conv), task)
    return model.eval()


@pytest.fixture
def house_graph():
    """The graph factory ``house_graph(seed=0, n_base=8)``."""
    return _house_graph


@pytest.fixture
def make_model():
    """The model factory ``make_model(task, conv="gcn", seed=0, in_dim=4)``."""
    return _make_model


@pytest.fixture
def graph() -> Graph:
    return _house_graph()


@pytest.fixture
def graph_model():
    return _make_model("graph")


@pytest.fixture
def node_model():
    return _make_model("node")
