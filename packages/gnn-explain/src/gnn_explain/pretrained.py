"""Models shipped inside the package (trained offline by :func:`experiment.train_model`)."""

from __future__ import annotations

from importlib.resources import files

import torch

from gnn_explain.nn.models import GraphClassifier, ModelConfig

#: name -> (file under gnn_explain/data, the dataset it was trained on with seed 0, config)
PRETRAINED = {
    "ba-2motifs-gcn": (
        "ba2motifs_gcn.pt",
        "ba-2motifs",
        ModelConfig(
            in_dim=10,
            num_classes=2,
            hidden=20,
            num_layers=3,
            conv="gcn",
            pool="mean",
            concat=False,
            normalize_adj=False,
            normalize_emb=True,
            linear_head=True,
        ),
    ),
}


def load_pretrained(name: str = "ba-2motifs-gcn") -> GraphClassifier:
    """A shipped model in eval mode (``ba-2motifs-gcn``: the BA-2Motifs recipe of
    ``experiment.RECIPES``, the SubgraphX paper's GCN, seed 0)."""
    if name not in PRETRAINED:
        raise ValueError(f"unknown pre-trained model {name!r}; choose one of {sorted(PRETRAINED)}")
    filename, _, cfg = PRETRAINED[name]
    resource = files("gnn_explain") / "data" / filename
    with resource.open("rb") as handle:
        state = torch.load(handle, weights_only=True)
    model = GraphClassifier(cfg)
    model.load_state_dict(state)
    return model.eval()
