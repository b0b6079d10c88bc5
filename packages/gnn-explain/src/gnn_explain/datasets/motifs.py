"""The motifs of the synthetic benchmarks, as (networkx graph, role label of each node)."""

from __future__ import annotations

import networkx as nx


def house() -> tuple[nx.Graph, list[int]]:
    """Square 0-1-2-3 with roof node 4 on 0 and 1. Roles: 0,1 middle (1), 2,3 bottom (2), 4 top (3)."""
    g = nx.Graph([(0, 1), (1, 2), (2, 3), (3, 0), (4, 0), (4, 1)])
    return g, [1, 1, 2, 2, 3]


def cycle(n: int) -> tuple[nx.Graph, list[int]]:
    """An n-cycle, every node role 1."""
    return nx.cycle_graph(n), [1] * n


def grid(side: int = 3) -> tuple[nx.Graph, list[int]]:
    """A side x side grid, every node role 1."""
    g = nx.convert_node_labels_to_integers(nx.grid_2d_graph(side, side), ordering="sorted")
    return g, [1] * (side * side)


MOTIFS = {"house": house, "cycle6": lambda: cycle(6), "cycle5": lambda: cycle(5), "grid": grid}
