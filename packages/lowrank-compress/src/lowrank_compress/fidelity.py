"""MiniLM embedding fidelity: compress the encoder's linears and compare sentence embeddings.

Calibration texts (docstring summaries) go through the model one at a time, so no padding
token enters the Gram matrices. FWSVD's task loss is the in-batch contrastive loss the model
was trained with (MultipleNegativesRanking, scale 20), on (object name, summary) pairs of the
calibration docstrings. Evaluation docstrings are disjoint from calibration ones.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F

from lowrank_compress.calibration import CalibrationStats
from lowrank_compress.compress import CompressionResult, compress
from lowrank_compress.data import Docstring, split_calibration_eval, stdlib_docstrings
from lowrank_compress.models.minilm import Bert, Tokenizer, embed_texts, load_bert


def bert_forward(model: Bert, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Sentence embeddings (B, D) of a tokenized batch."""
    return model.embed(**batch)


def name_as_text(name: str) -> str:
    """``'shlex.shlex.sourcehook'`` → ``'shlex shlex source hook'``-like words."""
    return name.replace(".", " ").replace("_", " ")


def contrastive_loss(model: Bert, batch: tuple[dict, dict]) -> torch.Tensor:
    """In-batch InfoNCE between the two sides of (anchor, positive) pairs, scale 20."""
    a, b = model.embed(**batch[0]), model.embed(**batch[1])
    logits = 20.0 * a @ b.T
    return F.cross_entropy(logits, torch.arange(len(a)))


@dataclass
class FidelitySetup:
    """The uncompressed model, tokenizer, data splits and reference embeddings."""

    model: Bert
    tokenizer: Tokenizer
    calibration: list[dict[str, torch.Tensor]]
    fisher_batches: list[tuple[dict, dict]]
    eval_texts: list[str]
    reference: torch.Tensor
    retrieval: list[Docstring]


def prepare(model_dir=None, n_calib: int = 192, n_eval: int = 400, seed: int = 0,
            fisher_batch: int = 16) -> FidelitySetup:
    """Load MiniLM, split stdlib docstrings, embed the evaluation texts with the original."""
    model = load_bert(model_dir)
    tok = Tokenizer(model_dir)
    calib, evals = split_calibration_eval(stdlib_docstrings(seed), n_calib, n_eval)
    batches = [tok([d.summary]) for d in calib]
    fisher = [(tok([name_as_text(d.name) for d in calib[i : i + fisher_batch]]),
               tok([d.summary for d in calib[i : i + fisher_batch]]))
              for i in range(0, n_calib, fisher_batch)]
    texts = [d.summary for d in evals]
    retrieval = [d for d in evals if len(d.body.split()) >= 10]
    return FidelitySetup(model, tok, batches, fisher, texts, embed_texts(model, tok, texts),
                         retrieval)


def recall_at_1(model: Bert, tok: Tokenizer, docs: list[Docstring]) -> float:
    """Fraction of summaries whose nearest body (cosine) is their own."""
    s = embed_texts(model, tok, [d.summary for d in docs])
    b = embed_texts(model, tok, [d.body for d in docs])
    return float((( s @ b.T).argmax(1) == torch.arange(len(docs))).float().mean())


@dataclass(frozen=True)
class FidelityRow:
    method: str
    params_removed: float
    allocation: str
    refit: bool
    cosine: float
    one_minus_cos: float
    recall_at_1: float | None
    mean_layer_error: float
    linear_reduction: float
    model_reduction: float
    compress_seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_one(setup: FidelitySetup, method: str, params_removed: float, *,
            allocation: str = "uniform", refit: bool = False, with_retrieval: bool = True,
            statistics: CalibrationStats | None = None, progress: bool | None = None
            ) -> tuple[FidelityRow, CompressionResult]:
    """Compress the encoder linears by ``method`` and score the embeddings.

    ``statistics`` from an earlier run on the same setup skips re-collecting them (Fisher
    importances are added to it on the first ``fwsvd`` run)."""
    t0 = time.perf_counter()
    result = compress(setup.model, params_removed, method, setup.calibration,
                      allocation=allocation, refit=refit, forward=bert_forward,
                      loss_fn=contrastive_loss, fisher_batches=setup.fisher_batches,
                      statistics=statistics, progress=progress)
    seconds = time.perf_counter() - t0
    emb = embed_texts(result.model, setup.tokenizer, setup.eval_texts)
    cos = float((emb * setup.reference).sum(1).mean())
    r1 = recall_at_1(result.model, setup.tokenizer, setup.retrieval) if with_retrieval else None
    rep = result.report
    return FidelityRow(method, params_removed, allocation, refit, cos, 1.0 - cos, r1,
                       rep.mean_measured_error, rep.linear_reduction, rep.model_reduction,
                       seconds), result
