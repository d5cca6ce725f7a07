"""F_phi, the S-ADT value head, and its two losses (pure functions of tensors).

F_phi is an MLP on the LM's last hidden state of a prefix; it predicts the prefix's soft value
V in reward units. A complete prefix needs no prediction: its value is its reward.
"""

from __future__ import annotations

import torch
from torch import nn


class ValueHead(nn.Module):
    """Linear(D, hidden) -> ReLU -> Linear(hidden, 1). ``forward(h [..., D]) -> [...]``."""

    def __init__(self, hidden_size: int, hidden: int = 64):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(hidden_size, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h).squeeze(-1)


def mse_loss(f: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Visit-weighted regression of F on node estimates: Σ w (F - v)^2 / Σ w. Its minimiser
    is the mean of the estimates, which is below the soft value (Jensen) wherever the
    estimates are noisy: kept as a baseline, ``soft`` is the default."""
    return (weight * (f - target) ** 2).sum() / weight.sum()


def soft_loss(f: torch.Tensor, target: torch.Tensor, weight: torch.Tensor,
              lam: float) -> torch.Tensor:
    """Weighted LINEX loss Σ w [exp(d) - d - 1] / (lam^2 Σ w), d = lam (v - F).

    Per hidden state, E[exp(lam (v - F))] - lam E[v - F] is minimised at
    exp(lam F) = E exp(lam v): F = (1/lam) log E exp(lam v). For a node estimate v whose
    exp(lam v) is an unbiased estimate of exp(lam V) (a rollout's reward; the soft mean of
    several; a soft backup over such children) the minimiser is exactly the soft value V,
    where plain regression would give E[v] < V. Near d = 0 it is (F - v)^2 / 2. ``d`` is
    clipped at 30 so a far-off target cannot overflow (the gradient there is still huge).
    """
    d = (lam * (target - f)).clamp(max=30.0)
    return (weight * (torch.expm1(d) - d)).sum() / (weight.sum() * lam ** 2)


def tb_loss(log_z: torch.Tensor, f_children: torch.Tensor, logw: torch.Tensor,
            chosen: torch.Tensor, leaf_target: torch.Tensor, lam: float) -> torch.Tensor:
    """Trajectory balance over a root-to-leaf path s_0..s_T:

        L = (log Z + Σ_t [lam F(s_{t+1}) - log Σ_c p̂(c|s_t) exp(lam F(c))] - lam v_T)^2

    ``f_children`` [..., T, K]: F of every child of s_t (a complete child's F is its reward);
    ``logw`` [..., T, K]: log p̂ normalised over s_t's children (-inf pads a short row);
    ``chosen`` [..., T]: which child is s_{t+1}; ``leaf_target`` [...]: the leaf's value v_T
    (its reward when the leaf is complete, where the last F term equals it and the pair
    cancels); ``log_z`` [...]. Leading dimensions batch paths; a padding step with one child of
    weight 1 and F = 0 adds nothing. Zero exactly when F is the soft value of the
    p̂-restricted tree and log Z = lam V(s_0).
    """
    f_next = f_children.gather(-1, chosen.unsqueeze(-1)).squeeze(-1)
    log_norm = torch.logsumexp(logw + lam * f_children, dim=-1)
    resid = log_z + (lam * f_next - log_norm).sum(-1) - lam * leaf_target
    return resid ** 2
