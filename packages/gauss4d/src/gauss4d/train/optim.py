"""Adam over the Gaussians' tensors with per-parameter learning rates, and the row surgery
(prune, append, reset) that densification needs, applied to the moments as well."""

from __future__ import annotations

import torch
from torch import Tensor

from gauss4d.gaussians import PARAM_NAMES, Gaussians


class GaussianAdam:
    """One Adam param group per Gaussian tensor (``means``, ``log_scales``, ...)."""

    def __init__(self, gaussians: Gaussians, lrs: dict[str, float], eps: float = 1e-15):
        missing = set(PARAM_NAMES) - set(lrs)
        if missing:
            raise ValueError(f"learning rates missing for {sorted(missing)}")
        groups = [
            {
                "params": [getattr(gaussians, n).detach().clone().requires_grad_()],
                "lr": lrs[n],
                "name": n,
            }
            for n in PARAM_NAMES
        ]
        self.opt = torch.optim.Adam(groups, lr=0.0, eps=eps)

    def _group(self, name: str) -> dict:
        return next(g for g in self.opt.param_groups if g["name"] == name)

    @property
    def gaussians(self) -> Gaussians:
        """The live Gaussians (leaves being optimised)."""
        return Gaussians(**{n: self._group(n)["params"][0] for n in PARAM_NAMES})

    def set_lr(self, name: str, lr: float) -> None:
        self._group(name)["lr"] = lr

    def step(self) -> None:
        self.opt.step()

    def zero_grad(self) -> None:
        self.opt.zero_grad(set_to_none=True)

    def _swap(self, name: str, new: Tensor, rows) -> None:
        """Replace ``name``'s tensor by ``new``; ``rows(old_moment) -> new_moment``."""
        group = self._group(name)
        old = group["params"][0]
        state = self.opt.state.pop(old, None)
        leaf = new.detach().requires_grad_()
        group["params"][0] = leaf
        if state:
            for key in ("exp_avg", "exp_avg_sq"):
                state[key] = rows(state[key])
            self.opt.state[leaf] = state

    def keep(self, mask: Tensor) -> None:
        """Keep only the Gaussians where ``mask`` (N,) is True."""
        current = self.gaussians.detach()
        for n in PARAM_NAMES:
            self._swap(n, getattr(current, n)[mask], lambda m: m[mask])

    def append(self, new: Gaussians) -> None:
        """Add Gaussians ``new`` with zero moments."""
        current = self.gaussians.detach()
        for n in PARAM_NAMES:
            extra = getattr(new, n).detach()
            self._swap(
                n,
                torch.cat([getattr(current, n), extra]),
                lambda m, e=extra: torch.cat([m, torch.zeros_like(e)]),
            )

    def reset(self, name: str, value: Tensor) -> None:
        """Set ``name`` to ``value`` and zero its moments (e.g. opacity reset)."""
        self._swap(name, value, torch.zeros_like)

    def state_dict(self) -> dict:
        return {
            "gaussians": {n: t.detach() for n, t in self.gaussians.tensors().items()},
            "adam": self.opt.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        for n in PARAM_NAMES:
            self._group(n)["params"][0] = state["gaussians"][n].clone().requires_grad_()
        self.opt.load_state_dict(state["adam"])
