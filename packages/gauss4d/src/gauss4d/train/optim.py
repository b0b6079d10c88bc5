"""Adam with one learning rate per named tensor, and the row surgery (prune, append, reset) that
density control needs, applied to the moments as well.

A small own implementation (the update of ``torch.optim.Adam``, default settings): it keeps the
moments in plain dicts keyed by name, which makes the row surgery direct, and it avoids the
one-off import of ``torch._dynamo`` that ``torch.optim`` triggers on its first step (over 10 s
on a loaded CPU, longer than the whole demo's training budget allows).
"""

from __future__ import annotations

import torch
from torch import Tensor

from gauss4d.gaussians import PARAM_NAMES, Gaussians


class Adam:
    """Adam (Kingma & Ba 2015) over named leaf tensors with per-name learning rates."""

    def __init__(
        self,
        params: dict[str, Tensor],
        lrs: dict[str, float],
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-15,
    ):
        missing = set(params) - set(lrs)
        if missing:
            raise ValueError(f"learning rates missing for {sorted(missing)}")
        self.params = dict(params)
        self.lrs = {n: float(lrs[n]) for n in params}
        self.betas, self.eps = betas, eps
        self.m = {n: torch.zeros_like(p) for n, p in self.params.items()}
        self.v = {n: torch.zeros_like(p) for n, p in self.params.items()}
        self.t = dict.fromkeys(self.params, 0)

    @torch.no_grad()
    def step(self) -> None:
        b1, b2 = self.betas
        for n, p in self.params.items():
            if p.grad is None:
                continue
            self.t[n] += 1
            g = p.grad
            self.m[n].mul_(b1).add_(g, alpha=1 - b1)
            self.v[n].mul_(b2).addcmul_(g, g, value=1 - b2)
            bc1, bc2 = 1 - b1 ** self.t[n], 1 - b2 ** self.t[n]
            denom = (self.v[n] / bc2).sqrt_().add_(self.eps)
            p.addcdiv_(self.m[n], denom, value=-self.lrs[n] / bc1)

    def zero_grad(self) -> None:
        for p in self.params.values():
            p.grad = None

    def replace(self, name: str, value: Tensor, m: Tensor, v: Tensor) -> None:
        """Swap ``name`` for a new leaf holding ``value`` with moments ``m``, ``v``."""
        self.params[name] = value.detach().clone().requires_grad_()
        self.m[name], self.v[name] = m, v

    def state_dict(self) -> dict:
        return {
            "params": {n: p.detach() for n, p in self.params.items()},
            "lrs": self.lrs,
            "m": self.m,
            "v": self.v,
            "t": self.t,
        }

    def load_state_dict(self, state: dict) -> None:
        self.params = {n: p.clone().requires_grad_() for n, p in state["params"].items()}
        self.lrs, self.m, self.v, self.t = (dict(state[k]) for k in ("lrs", "m", "v", "t"))


class GaussianAdam(Adam):
    """Adam over the Gaussians' tensors (``means``, ``log_scales``, ...)."""

    def __init__(self, gaussians: Gaussians, lrs: dict[str, float], eps: float = 1e-15):
        leaves = {n: getattr(gaussians, n).detach().clone().requires_grad_() for n in PARAM_NAMES}
        super().__init__(leaves, lrs, eps=eps)

    @property
    def gaussians(self) -> Gaussians:
        """The live Gaussians (the leaves being optimised)."""
        return Gaussians(**{n: self.params[n] for n in PARAM_NAMES})

    def keep(self, mask: Tensor) -> None:
        """Keep only the Gaussians where ``mask`` (N,) is True."""
        for n in PARAM_NAMES:
            self.replace(n, self.params[n].detach()[mask], self.m[n][mask], self.v[n][mask])

    def append(self, new: Gaussians) -> None:
        """Add Gaussians ``new`` with zero moments."""
        for n in PARAM_NAMES:
            extra = getattr(new, n).detach()
            zeros = torch.zeros_like(extra)
            self.replace(
                n,
                torch.cat([self.params[n].detach(), extra]),
                torch.cat([self.m[n], zeros]),
                torch.cat([self.v[n], zeros]),
            )

    def reset(self, name: str, value: Tensor) -> None:
        """Set ``name`` to ``value`` and zero its moments (e.g. opacity reset)."""
        self.replace(name, value, torch.zeros_like(value), torch.zeros_like(value))
