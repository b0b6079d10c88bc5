"""Attention-output SAE on a trained induction model (Kissane et al. 2024), on CPU in minutes.

Trains the 2-layer attention-only model on repeated random sequences, trains a TopK SAE on the
concatenated per-head outputs z of layer 1, attributes each latent to heads by decoder-weight
norms and characterises the induction latents: those reading ≥ 90 % from induction heads and
firing far more often on the repeated part. For each, at the positions where it fires: the
token the induction rule predicts there (the token after the previous occurrence) and how
often it is the same one (purity), and the token its decoder direction promotes most through
W_O, the final LayerNorm's weight and W_U (direct logit attribution, up to the LayerNorm's
positive per-position scale). Writes examples/results/<name>.json and .md.

    python examples/attention_sae_induction.py [--steps 1500] [--sae-steps 1500] [--k 8]
        [--latents 256] [--name attention_sae_induction]
    # committed: the defaults, and --k 4 --latents 512 --sae-steps 3000
    #            --name attention_sae_induction_k4_512
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from accelerator_utils import (
    atomic_write_json,
    atomic_write_text,
    hardware_summary,
    limit_threads,
    make_generator,
)
from interp_tools.hooks import run_with_cache
from interp_tools.sae import (
    SAEConfig,
    TrainConfig,
    attention_output_activations,
    head_attribution,
    train_sae,
)
from interp_tools.toy.induction import induction_score, repeated_sequences, train_induction

OUT = Path(__file__).parent / "results"


def induction_targets(tokens: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """[B, T]: the token at p − offset + 1, which the induction rule predicts at position p."""
    T = tokens.shape[1]
    src = (torch.arange(T)[None] - offset[:, None] + 1).clamp(0, T - 1)
    return tokens.gather(1, src)


def logit_direction(model: torch.nn.Module, z_dir: torch.Tensor, layer: int) -> torch.Tensor:
    """[d_vocab]: a z-space direction through W_O, the final LayerNorm's weight and W_U."""
    resid = model.blocks[layer].attn.W_O.weight @ z_dir
    resid = resid - resid.mean()
    ln = model.ln_final
    if isinstance(ln, torch.nn.LayerNorm):
        resid = resid * ln.weight
    return model.W_U.weight @ resid


def characterise(
    model: torch.nn.Module, sae, latents, shares, scores, tokens, predictable, offset
) -> dict:
    heads = (scores > 0.5).nonzero().flatten().tolist()
    share = shares[:, scores > 0.5].sum(1)
    mask = predictable.reshape(-1)
    on_rep = (latents[mask] > 0).float().mean(0)
    off_rep = (latents[~mask] > 0).float().mean(0)
    selectivity = on_rep / off_rep.clamp_min(1e-4)
    chosen = (share > 0.9) & (on_rep > 0.01) & (selectivity > 5)
    targets = induction_targets(tokens, offset).reshape(-1)
    current = tokens.reshape(-1)
    B, T = tokens.shape
    position = torch.arange(T).repeat(B)
    rows = []
    for i in chosen.nonzero().flatten()[selectivity[chosen].argsort(descending=True)].tolist():
        fires = latents[:, i] > 0
        tgt = torch.bincount(targets[fires & mask], minlength=model.cfg.d_vocab)
        cur = torch.bincount(current[fires & mask], minlength=model.cfg.d_vocab)
        pos = torch.bincount(position[fires & mask], minlength=T)
        dla = logit_direction(model, sae.W_dec[i].detach(), 1)
        rows.append(
            {
                "latent": i,
                "head_shares": [round(v, 3) for v in shares[i].tolist()],
                "fires_repeated": float(on_rep[i]),
                "fires_elsewhere": float(off_rep[i]),
                "predicted_token": int(tgt.argmax()),
                "predicted_purity": float(tgt.max() / tgt.sum().clamp_min(1)),
                "current_token_purity": float(cur.max() / cur.sum().clamp_min(1)),
                "position_purity": float(pos.max() / pos.sum().clamp_min(1)),
                "top_position": int(pos.argmax()),
                "dla_top_token": int(dla.argmax()),
            }
        )
    agree = sum(r["dla_top_token"] == r["predicted_token"] for r in rows)
    return {
        "induction_heads": heads,
        "n_induction_latents": len(rows),
        "dla_matches_predicted": agree,
        "mean_predicted_purity": sum(r["predicted_purity"] for r in rows) / max(len(rows), 1),
        "mean_current_purity": sum(r["current_token_purity"] for r in rows) / max(len(rows), 1),
        "mean_position_purity": sum(r["position_purity"] for r in rows) / max(len(rows), 1),
        "n_token_specific": sum(r["predicted_purity"] > 0.5 for r in rows),
        "latents": rows,
    }


def markdown(res: dict) -> str:
    lines = [
        "# Attention-output SAE on the induction model (layer 1)",
        "",
        f"Model: 2-layer attention-only, repeated-part loss {res['repeat_loss']:.3f} nats; "
        f"layer-1 induction scores {[round(s, 3) for s in res['scores']]} (induction heads: "
        f"{res['induction_heads']}). SAE: TopK {res['d_in']} → {res['d_sae']}, k = {res['k']}, "
        f"explained variance {res['explained_variance']:.3f}.",
        "",
        f"{res['n_induction_latents']} of {res['d_sae']} latents read ≥ 90 % from the induction "
        "heads and fire > 5× more often on the repeated part. At their firing positions the "
        f"induction-predicted token is one token {100 * res['mean_predicted_purity']:.0f} % of "
        f"the time on average (the current token: {100 * res['mean_current_purity']:.0f} %, the "
        f"query position: {100 * res['mean_position_purity']:.0f} %); "
        f"{res['n_token_specific']} have a predicted-token purity above 50 %; "
        f"for {res['dla_matches_predicted']} the decoder direction's top logit is the "
        "most frequent predicted token.",
        "",
        "| latent | head shares | fires (repeated) | fires (elsewhere) | predicted token "
        "(purity) | current-token purity | query position (purity) | DLA top token |",
        "|---:|---|---:|---:|---|---:|---|---:|",
    ]
    for r in res["latents"][:15]:
        lines.append(
            f"| {r['latent']} | {r['head_shares']} | {100 * r['fires_repeated']:.1f} % "
            f"| {100 * r['fires_elsewhere']:.2f} % | {r['predicted_token']} "
            f"({100 * r['predicted_purity']:.0f} %) | {100 * r['current_token_purity']:.0f} % "
            f"| {r['top_position']} ({100 * r['position_purity']:.0f} %) | {r['dla_top_token']} |"
        )
    lines += ["", f"Hardware: {res['hardware']}; load average {res['load_average_1min']:.1f}."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--sae-steps", type=int, default=1500)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--latents", type=int, default=256)
    parser.add_argument("--name", default="attention_sae_induction", help="result file stem")
    args = parser.parse_args()
    with limit_threads(1):
        t0 = time.perf_counter()
        run = train_induction(2, steps=args.steps, seed=0)
        model, cfg = run.model, run.model.cfg
        gen = make_generator(1)
        tokens, predictable, offset = repeated_sequences(2000, cfg.n_ctx, cfg.d_vocab, gen)
        _, cache = run_with_cache(model, tokens, names=["blocks.1.attn.hook_pattern"])
        scores = induction_score(cache["blocks.1.attn.hook_pattern"], offset, predictable)
        acts = attention_output_activations(model, tokens, layer=1)  # [N·T, H·d_head]
        sae_cfg = SAEConfig(acts.shape[1], args.latents, kind="topk", k=args.k)
        train = TrainConfig(steps=args.sae_steps, batch_size=512, lr=1e-3)
        sae = train_sae(acts, sae_cfg, train, seed=0).sae
        with torch.no_grad():
            latents = sae.encode(acts)
            recon = sae(acts).recon
        ev = 1 - (acts - recon).pow(2).sum() / (acts - acts.mean(0)).pow(2).sum()
        shares = head_attribution(sae, cfg.n_heads)  # [d_sae, H]
        res = characterise(model, sae, latents, shares, scores, tokens, predictable, offset)
        hardware = hardware_summary()
    res |= {
        "repeat_loss": run.repeat_loss,
        "scores": scores.tolist(),
        "d_in": sae_cfg.d_in,
        "d_sae": sae_cfg.d_sae,
        "k": sae_cfg.k,
        "explained_variance": float(ev),
        "wall_s": time.perf_counter() - t0,
        "hardware": hardware,
        "load_average_1min": os.getloadavg()[0],
    }
    OUT.mkdir(parents=True, exist_ok=True)
    atomic_write_json(OUT / f"{args.name}.json", res)
    text = markdown(res)
    atomic_write_text(OUT / f"{args.name}.md", text)
    print(text)


if __name__ == "__main__":
    main()
