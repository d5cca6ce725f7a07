"""Time-series encoder: z-scored series -> patch embeddings with a padding mask."""

from __future__ import annotations

import torch
from torch import nn


def zscore(values: torch.Tensor, eps: float = 1e-6) -> tuple[torch.Tensor, float, float]:
    """``(values - mean) / std`` with the original mean and std. A constant series (std 0)
    becomes zeros rather than NaN."""
    mean = values.mean()
    std = values.std(unbiased=False)
    return (values - mean) / std.clamp_min(eps), float(mean), float(std)


def robust_diff(values: torch.Tensor, clip: float, eps: float = 1e-6) -> torch.Tensor:
    """First differences (the first is 0) over 1.4826 x their median absolute deviation,
    clipped to ``+-clip``. A series whose differences are mostly equal (MAD 0) gives 0 where
    a difference equals the median and ``+-clip`` elsewhere; a series of one value gives 0."""
    d = torch.diff(values, prepend=values[:1])
    centred = d - d.median()
    mad = 1.4826 * centred.abs().median()
    return (d / mad.clamp_min(eps)).clamp(-clip, clip) if mad > eps else \
        torch.sign(centred) * clip


class PatchEncoder(nn.Module):
    """Series of different lengths in one batch -> ``[N, P, dim]`` patch embeddings.

    Each z-scored series is cut into patches of ``patch_size`` by a strided Conv1d over six
    channels: the values, their first difference, its magnitude (local changes and noise level
    without the trend), the relative time ``t / (length - 1)`` (so "early" and "late" mean
    the same for every length), and the difference and its magnitude in robust units (over
    1.4826 x the median absolute deviation of the series' differences, clipped to +-20: a spike
    stands out against the noise even when a trend dominates the std). Each patch also gets
    the largest robust difference magnitude inside it (``log1p``, through a linear map): a
    strided convolution sums over the patch, and a sum hides one large value among many small
    ones. A short last patch is zero-filled and counts as real. Then learned position
    embeddings, LayerNorm and ``num_layers`` transformer encoder layers that never attend to
    padded patches.
    """

    CHANNELS = 6
    ROBUST_CLIP = 20.0

    def __init__(self, patch_size: int, dim: int, num_layers: int, num_heads: int,
                 max_patches: int):
        super().__init__()
        self.patch_size = patch_size
        self.max_patches = max_patches
        self.patchify = nn.Conv1d(self.CHANNELS, dim, kernel_size=patch_size, stride=patch_size)
        self.peak = nn.Linear(1, dim)
        self.pos = nn.Embedding(max_patches, dim)
        self.norm = nn.LayerNorm(dim)
        layer = nn.TransformerEncoderLayer(dim, num_heads, dim_feedforward=2 * dim, dropout=0.0,
                                           batch_first=True, norm_first=True)
        self.layers = (nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
                       if num_layers else None)

    def num_patches(self, length: int) -> int:
        return -(-length // self.patch_size)

    def forward(self, series: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """``series``: N z-scored 1-D tensors. Returns ``(patches [N, P, dim], real [N, P])``
        where ``real`` is False on padding patches."""
        counts = [self.num_patches(len(s)) for s in series]
        P = max(counts)
        if P > self.max_patches:
            raise ValueError(
                f"a series of {max(len(s) for s in series)} values makes {P} patches of "
                f"{self.patch_size}, more than model.encoder.max_patches={self.max_patches}; "
                f"raise model.encoder.max_patches or training.patch_size")
        device = self.pos.weight.device
        x = torch.zeros(len(series), P * self.patch_size, device=device)
        rdx = torch.zeros_like(x)
        for i, s in enumerate(series):
            x[i, : len(s)] = s
            rdx[i, : len(s)] = robust_diff(s.to(device), self.ROBUST_CLIP)
        length = torch.tensor([len(s) for s in series], device=device)
        t = torch.arange(x.shape[1], device=device)[None, :]
        inside = t < length[:, None]
        dx = torch.diff(x, dim=1, prepend=x[:, :1]) * inside
        rel = (t / (length[:, None] - 1).clamp_min(1)).clamp(max=1.0) * inside
        channels = torch.stack([x, dx, dx.abs(), rel, rdx, rdx.abs()], 1)
        h = self.patchify(channels).transpose(1, 2)  # [N, P, dim]
        peak = rdx.abs().view(len(series), P, self.patch_size).amax(-1, keepdim=True)
        h = h + self.peak(torch.log1p(peak))
        real = torch.arange(P, device=device)[None, :] < torch.tensor(counts, device=device)[:, None]
        h = self.norm(h + self.pos.weight[:P])
        if self.layers is not None:
            h = self.layers(h, src_key_padding_mask=~real)
        return h, real
