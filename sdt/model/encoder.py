"""Time-series encoder: z-scored series -> patch embeddings with a padding mask."""

from __future__ import annotations

import math

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

    ``series_features`` also returns, per series, :meth:`global_features` mapped to
    ``out_dim`` (the LM's width) by a zero-initialised linear map, which the TSLM adds to each of
    the series' projected patches: the raw series' ``log10(std)`` and ``sign(mean) *
    log10(1 + |mean|)`` (z-scoring removes the level and the amplitude, which are what tell
    standing from running) and where and how abrupt its largest change is. A randomly
    initialised LM attends almost uniformly at first, so a property of one patch (the spike) is
    hard for it to find among 32; the same property written into every patch embedding is read
    by any attention pattern. Added after the projector, it reaches the LM without passing
    through LayerNorm and the encoder layers, and is learned in a fraction of the steps.
    """

    CHANNELS = 6
    WHERE_BINS = 12
    GLOBALS = 3 + WHERE_BINS
    SOFT_ARGMAX = 3.0
    ROBUST_CLIP = 20.0

    def __init__(self, patch_size: int, dim: int, num_layers: int, num_heads: int,
                 max_patches: int, series_features: bool = False, out_dim: int | None = None):
        super().__init__()
        self.globals = nn.Linear(self.GLOBALS, out_dim or dim) if series_features else None
        if self.globals is not None:  # starts silent: features of no use stay out of the way
            nn.init.zeros_(self.globals.weight)
            nn.init.zeros_(self.globals.bias)
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

    @staticmethod
    def stats_features(mean: float, std: float) -> list[float]:
        """The two scale features of a raw series with ``mean`` and ``std``."""
        return [math.log10(max(std, 1e-8)),
                math.copysign(math.log10(1.0 + abs(mean)), mean)]

    def global_features(self, rdx: torch.Tensor, rel: torch.Tensor, inside: torch.Tensor,
                        stats: torch.Tensor) -> torch.Tensor:
        """``[N, GLOBALS]`` per-series features: the two scale features (/3), where the most
        abrupt change is (a softmax over time of ``SOFT_ARGMAX`` x the robust difference
        magnitude, summed into ``WHERE_BINS`` equal bins of relative time: a spike or a jump
        in the first twelfth puts its mass in bin 0), and how abrupt it is
        (``log1p(max |robust diff|) / 3``). All of it is invariant to the series' scale except
        the scale features themselves."""
        mag = rdx.abs().masked_fill(~inside, 0.0)
        weight = torch.softmax((self.SOFT_ARGMAX * mag).masked_fill(~inside, float("-inf")), 1)
        bins = (rel * self.WHERE_BINS).long().clamp(max=self.WHERE_BINS - 1)
        where = torch.zeros(len(rdx), self.WHERE_BINS, device=rdx.device, dtype=weight.dtype)
        where.scatter_add_(1, bins, weight)
        height = torch.log1p(mag.amax(1)) / 3.0
        return torch.cat([stats / 3.0, where, height[:, None]], 1)

    def forward(self, series: list[torch.Tensor], stats: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``series``: N z-scored 1-D tensors; ``stats [N, 2]``: their
        :meth:`stats_features` (needed when ``series_features`` is on). Returns
        ``(patches [N, P, dim], real [N, P], series [N, out_dim] or None)`` where ``real`` is
        False on padding patches and ``series`` is the series-features embedding."""
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
        extra = None
        if self.globals is not None:
            if stats is None:
                raise ValueError("this encoder has series_features: pass stats [N, 2]")
            extra = self.globals(self.global_features(
                rdx, rel, inside, stats.to(device=device, dtype=h.dtype)))
        real = torch.arange(P, device=device)[None, :] < torch.tensor(counts, device=device)[:, None]
        h = self.norm(h + self.pos.weight[:P])
        if self.layers is not None:
            h = self.layers(h, src_key_padding_mask=~real)
        return h, real, extra
