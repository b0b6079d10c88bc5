"""Synthetic explanation benchmarks with known ground truth."""

from gnn_explain.datasets.synthetic import (
    DATASETS,
    GraphDataset,
    NodeDataset,
    ba_2motifs,
    ba_community,
    ba_shapes,
    load_dataset,
    tree_cycles,
    tree_grid,
)

__all__ = [
    "DATASETS",
    "GraphDataset",
    "NodeDataset",
    "ba_2motifs",
    "ba_community",
    "ba_shapes",
    "load_dataset",
    "tree_cycles",
    "tree_grid",
]
