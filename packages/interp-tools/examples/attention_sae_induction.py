"""Attention-output SAE on a trained induction model (Kissane et al. 2024), on CPU in minutes.

Trains the 2-layer attention-only model on repeated random sequences, trains a TopK SAE on the
concatenated per-head outputs z of layer 1, attributes each latent to heads by decoder norms and
prints the latents that read from the induction head and fire on the repeated part.

    python examples/attention_sae_induction.py [--steps 1500] [--sae-steps 1500]
"""

from __future__ import annotations

import argparse

import torch

from accelerator_utils import limit_threads, make_generator
from interp_tools.hooks import run_with_cache
from interp_tools.sae import (
    SAEConfig,
    TrainConfig,
    attention_output_activations,
    head_attribution,
    train_sae,
)
from interp_tools.toy.induction import induction_score, repeated_sequences, train_induction


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--sae-steps", type=int, default=1500)
    args = parser.parse_args()
    with limit_threads(1):
        run = train_induction(2, steps=args.steps, seed=0)
        model, cfg = run.model, run.model.cfg
        gen = make_generator(1)
        tokens, predictable, offset = repeated_sequences(2000, cfg.n_ctx, cfg.d_vocab, gen)
        _, cache = run_with_cache(model, tokens, names=["blocks.1.attn.hook_pattern"])
        scores = induction_score(cache["blocks.1.attn.hook_pattern"], offset, predictable)
        print(
            f"repeated-part loss {run.repeat_loss:.3f} nats; layer-1 induction scores {scores.tolist()}"
        )
        acts = attention_output_activations(model, tokens, layer=1)  # [N·T, H·d_head]
        sae_cfg = SAEConfig(acts.shape[1], 4 * acts.shape[1], kind="topk", k=8)
        sae = train_sae(
            acts, sae_cfg, TrainConfig(steps=args.sae_steps, batch_size=512, lr=1e-3), seed=0
        ).sae
        with torch.no_grad():
            latents = sae.encode(acts)
        shares = head_attribution(sae, cfg.n_heads)  # [d_sae, H]
        induction_heads = scores > 0.5
        share = shares[:, induction_heads].sum(1)
        mask = predictable.reshape(-1)
        on_rep = (latents[mask] > 0).float().mean(0)
        off_rep = (latents[~mask] > 0).float().mean(0)
        selectivity = on_rep / off_rep.clamp_min(1e-4)
        induction = (share > 0.9) & (on_rep > 0.01) & (selectivity > 5)
        heads = induction_heads.nonzero().flatten().tolist()
        print(
            f"induction heads (score > 0.5): {heads}; {int(induction.sum())} of {sae_cfg.d_sae} "
            "latents read >= 90 % from them and fire > 5x more often on the repeated part"
        )
        for i in selectivity.argsort(descending=True)[:5].tolist():
            print(
                f"  latent {i}: head shares {[round(v, 2) for v in shares[i].tolist()]}, fires on "
                f"{100 * on_rep[i]:.1f}% of repeated positions vs {100 * off_rep[i]:.2f}% elsewhere"
            )


if __name__ == "__main__":
    main()
