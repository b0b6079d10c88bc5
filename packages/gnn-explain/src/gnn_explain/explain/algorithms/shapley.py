"""Monte Carlo Shapley value of a coalition over its local neighbourhood (SubgraphX's reward).

The coalition is one player; the other players are the nodes within ``hops`` of it. Nodes
outside that neighbourhood are always present. Each sample draws a uniformly random order of
the players; the set S is the players before the coalition. The estimate is the mean over
samples of v(S + coalition) - v(S), with v the target probability and absent nodes zero-filled
(Yuan et al. 2021, Sec. 3.3; the reference implementation's ``mc_l_shapley``).

Draws come from a generator seeded by (seed, coalition), so a coalition's samples do not
depend on the order or grouping in which coalitions are scored: the batched and the plain
implementation see identical samples. For node tasks the explained node is present in every
sample (the reference implementation's ``NC_mc_l_shapley``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def local_region(adjacency: list[set[int]], coalition: tuple[int, ...], hops: int) -> list[int]:
    """The coalition and every node within ``hops`` edges of it, sorted."""
    region = set(coalition)
    frontier = set(coalition)
    for _ in range(hops):
        frontier = {v for u in frontier for v in adjacency[u]} - region
        region |= frontier
    return sorted(region)


def shapley_masks(
    coalition: tuple[int, ...],
    region: list[int],
    num_nodes: int,
    num_samples: int,
    seed: int,
    keep: int | None = None,
) -> tuple[Tensor, Tensor]:
    """(include, exclude) masks, each (num_samples, num_nodes) float32 of 0/1.

    ``keep`` (node tasks: the explained node) is present in every mask, as in the reference
    implementation's node-classification reward.
    """
    rng = np.random.default_rng([seed, len(coalition), *coalition])
    players = sorted(set(region) - set(coalition))
    keys = rng.random((num_samples, len(players) + 1))
    before = keys[:, :-1] < keys[:, -1:]
    exclude = np.ones((num_samples, num_nodes), dtype=np.float32)
    exclude[:, region] = 0.0
    exclude[:, players] = before
    if keep is not None:
        exclude[:, keep] = 1.0
    include = exclude.copy()
    include[:, list(coalition)] = 1.0
    return torch.from_numpy(include), torch.from_numpy(exclude)


def adjacency_sets(edge_index: Tensor, num_nodes: int) -> list[set[int]]:
    """Undirected neighbour sets of nodes 0..num_nodes-1 (self-loops dropped)."""
    adj: list[set[int]] = [set() for _ in range(num_nodes)]
    for u, v in edge_index.t().tolist():
        if u != v:
            adj[u].add(v)
            adj[v].add(u)
    return adj
