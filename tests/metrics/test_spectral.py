import numpy as np
import pytest
from scipy import integrate, signal, stats

from sdt.metrics import psd, spectral_distance, spec_w1, power_ratio, w1, kl, l1_log


def _direct(x, c, nperseg=None):
    """Welch of both with scipy, the coarser spectrum interpolated onto the finer grid."""
    fx, sx = signal.welch(x, fs=1.0, nperseg=min(len(x), nperseg or 256))
    fc, sc = signal.welch(c, fs=1.0, nperseg=min(len(c), nperseg or 256))
    if len(fx) >= len(fc):
        return fx, sx, np.interp(fx, fc, sc)
    return fc, np.interp(fc, fx, sx), sc


@pytest.mark.parametrize("nx,nc", [(64, 64), (16, 128), (200, 24), (8, 64)])
def test_distances_match_direct_scipy(nx, nc):
    rng = np.random.default_rng(nx * 1000 + nc)
    x, c = rng.normal(size=nx), rng.normal(size=nc).cumsum()
    f, sx, sc = _direct(x, c)
    expect_l1 = integrate.trapezoid(np.abs(np.log(sx) - np.log(sc)), f)
    expect_w1 = stats.wasserstein_distance(f, f, u_weights=sx, v_weights=sc)
    p, q = sx / sx.sum() + 1e-10, sc / sc.sum() + 1e-10
    expect_kl = stats.entropy(p / p.sum(), q / q.sum())
    assert spectral_distance(x, c, "l1_log") == pytest.approx(expect_l1, rel=1e-9)
    assert spectral_distance(x, c, "w1") == pytest.approx(expect_w1, rel=1e-9)
    assert spectral_distance(x, c, "kl") == pytest.approx(expect_kl, rel=1e-9)


def test_periodogram_matches_scipy():
    rng = np.random.default_rng(3)
    x, c = rng.normal(size=32), rng.normal(size=32)
    f, sx = signal.periodogram(x)
    _, sc = signal.periodogram(c)
    expect = stats.wasserstein_distance(f, f, u_weights=sx, v_weights=sc)
    assert spectral_distance(x, c, "w1", method="periodogram") == pytest.approx(expect, rel=1e-9)


def test_w1_identical_is_zero_and_shifted_deltas_give_the_shift():
    f = np.linspace(0, 0.5, 33)
    s = np.random.default_rng(0).random(33)
    assert w1(f, s, s) == 0.0
    for i, j in [(0, 32), (3, 10), (20, 5)]:
        a, b = np.zeros(33), np.zeros(33)
        a[i], b[j] = 2.0, 7.0  # scale does not matter: spectra are power-normalised
        assert w1(f, a, b) == pytest.approx(abs(f[i] - f[j]), abs=1e-15)
    t = np.arange(256)
    assert spec_w1(np.sin(0.7 * t), np.sin(0.7 * t)) == 0.0


@pytest.mark.parametrize("distance", ["l1_log", "w1", "kl"])
@pytest.mark.parametrize("nx,nc", [(0, 64), (1, 64), (2, 3), (5, 500), (64, 1), (7, 7)])
def test_any_lengths_never_raise(distance, nx, nc):
    rng = np.random.default_rng(nx + nc)
    d = spectral_distance(rng.normal(size=nx), rng.normal(size=nc), distance)
    assert np.isfinite(d) and d >= 0


def test_flat_forecast_is_far_from_a_periodic_history_and_self_distance_zero():
    t = np.arange(128)
    hist = np.sin(2 * np.pi * t / 8)
    assert spec_w1(np.full(16, 3.0), hist) == pytest.approx(0.125, abs=0.02)  # mass at 0 vs 1/8
    assert spec_w1(np.full(16, 3.0), np.zeros(40)) == 0.0
    f, s = psd(hist)
    assert l1_log(f, s, s) == 0.0 and kl(f, s, s) == pytest.approx(0.0, abs=1e-12)


def test_power_ratio():
    y = np.array([1.0, -1.0, 1.0, -1.0])
    assert power_ratio(2 * y, y) == pytest.approx(4.0)
    assert power_ratio([[0, 0, 0, 0], 2 * y], y) == pytest.approx(2.0)  # mean over members
    assert np.isnan(power_ratio(y, np.ones(4)))
