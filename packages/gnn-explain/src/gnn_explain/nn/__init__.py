"""GNN layers, node/graph classifiers and their training loop, in pure torch."""

from gnn_explain.nn.layers import GCNConv, GINConv, SAGEConv, make_conv
from gnn_explain.nn.models import GraphClassifier, ModelConfig, NodeClassifier, build_model
from gnn_explain.nn.train import TrainConfig, TrainResult, train

__all__ = [
    "GCNConv",
    "GINConv",
    "GraphClassifier",
    "ModelConfig",
    "NodeClassifier",
    "SAGEConv",
    "TrainConfig",
    "TrainResult",
    "build_model",
    "make_conv",
    "train",
]
