"""The report's figures (matplotlib, Agg, PNG bytes): metric against each varied factor per
study with CI bands, reward against NFE with the Pareto front, power-spectrum overlays,
training curves, parallel coordinates of params against the objective, and the Optuna
studies' own plots (:mod:`sdt.report.optuna_plots`).

Each figure function returns a list of :class:`~sdt.report.build.Figure`, empty when the
sweep has nothing to draw; the number of figures is capped so a huge sweep stays readable
(the CSV tables hold everything).
"""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd

from sdt.report import stats
from sdt.report.data import _hashable, is_number, read_history, short, show
from sdt.report.table import level_of, units

MAX_CURVE_FIGURES = 4
MAX_PANELS = 4
MAX_CURVE_METRICS = 4
MAX_TRAINING_RUNS = 12
MAX_PARALLEL_LINES = 2000
CURVE_RESAMPLES = 299  # a band to see, not a number to quote


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png(fig) -> bytes:
    plt = _plt()
    buf = io.BytesIO()
    # No metadata (software version, date): the same store gives the same bytes.
    fig.savefig(buf, format="png", dpi=80, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _figure(name, title, caption, fig):
    from sdt.report.build import Figure

    return Figure(name=name, title=title, caption=caption, png=png(fig))


def _method_of(report) -> dict[str, str]:
    """arm -> the label of the selector (baseline or candidate) that picks it."""
    s = report.settings
    arms = report.data.primary.drop_duplicates("arm")
    out = {}
    for sel in [s.baseline, *s.candidates]:
        for arm in arms.loc[sel.matches(arms), "arm"]:
            out.setdefault(arm, sel.label)
    return out


def _curve_metrics(report) -> list[str]:
    metrics = list(report.settings.metrics)
    if "reward" in metrics:
        metrics.remove("reward")
        metrics.insert(0, "reward")
    return metrics[:MAX_CURVE_METRICS]


def study_curves(report) -> list:
    data, s = report.data, report.settings
    primary = data.primary
    method_of = _method_of(report)
    used = set(s.baseline.where) | {k for c in s.candidates for k in c.where}
    metrics = _curve_metrics(report)
    figs = []
    skipped = 0
    studies = sorted({t for tags in primary["studies"] for t in str(tags).split(",") if t})
    for study in studies:
        in_study = primary[primary["studies"].map(lambda t: study in str(t).split(","))]
        arms = in_study.drop_duplicates("arm")
        arms = arms[arms["arm"].isin(method_of)]
        varying = [k for k in data.arm_keys if k not in used
                   and arms[k].map(_hashable).nunique(dropna=False) > 1]
        factors = [k for k in varying if k not in report.panel_keys
                   and arms[k].map(is_number).all()]
        for factor in factors:
            others = [k for k in varying if k != factor]
            for pvals, panel in (arms.groupby([arms[k].map(_hashable) for k in others],
                                              sort=False) if others else [((), arms)]):
                if len(figs) >= MAX_CURVE_FIGURES:
                    skipped += 1
                    continue
                pvals = pvals if isinstance(pvals, tuple) else (pvals,)
                where = ", ".join(f"{short(k, data.arm_keys)}={show(v)}"
                                  for k, v in zip(others, pvals))
                fig = _curve_figure(data, panel, factor, metrics, method_of)
                if fig is None:
                    continue
                name = f"curve_{study}_{short(factor, data.arm_keys)}_{len(figs)}.png"
                title = f"Study {study}: metrics against {factor}" + \
                    (f" ({where})" if where else "")
                figs.append(_figure(name, title, "Mean per configuration with its 95% "
                                    "bootstrap CI (band), one line per method.", fig))
    if skipped:
        report.notes.append(f"{skipped} more study curves not drawn (at most "
                            f"{MAX_CURVE_FIGURES}); tables/main.csv and runs.csv hold the data")
    return figs


def _curve_figure(data, arms, factor, metrics, method_of):
    plt = _plt()
    # every point of the figure first, so that its CIs go through the bootstrap in batches
    points = []  # (metric, method, x, groups)
    for metric in metrics:
        for method, group in arms.groupby(arms["arm"].map(method_of), sort=False):
            for _, arm in group.sort_values(factor, key=lambda c: c.astype(float)).iterrows():
                u = units(data, arm["arm"], metric, level_of(data, arm["arm"], metric))
                if len(u):
                    points.append((metric, method, float(arm[factor]),
                                   [g["value"].to_numpy(float) for _, g in u.groupby("seed")]))
    cis = stats.mean_cis([p[3] for p in points], n_resamples=CURVE_RESAMPLES,
                         method="percentile")
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.6 * len(metrics), 3.2), squeeze=False)
    drew = False
    for ax, metric in zip(axes[0], metrics):
        lines: dict[str, list] = {}
        for (m, method, x, _), ci in zip(points, cis):
            if m == metric:
                lines.setdefault(method, []).append((x, *ci))
        for method, pts in lines.items():
            xs, ms, lo, hi = (list(c) for c in zip(*pts))
            drew = True
            line, = ax.plot(xs, ms, marker="o", label=method)
            ax.fill_between(xs, lo, hi, alpha=0.2, color=line.get_color())
        ax.set_xlabel(factor.rsplit(".", 1)[-1])
        ax.set_title(metric)
        values = sorted(arms[factor].astype(float).unique())
        if values[0] > 0 and len(values) > 2:
            ax.set_xscale("log")
            ax.minorticks_off()
        ax.set_xticks(values, [show(v) for v in values], fontsize=8)
    if not drew:
        plt.close(fig)
        return None
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def pareto(report) -> list:
    data = report.data
    done = data.completed
    if not {"reward", "nfe"} <= set(done.columns):
        return []
    method_of = _method_of(report)
    labels = done["arm"].map(lambda a: method_of.get(a, "other"))
    pkeys = report.panel_keys
    panels = list(done.groupby([done[k].map(_hashable) for k in pkeys], sort=False)) \
        if pkeys else [((), done)]
    plt = _plt()
    shown = panels[:MAX_PANELS]
    fig, axes = plt.subplots(1, len(shown), figsize=(5 * len(shown), 4), squeeze=False)
    for ax, (pvals, group) in zip(axes[0], shown):
        pvals = pvals if isinstance(pvals, tuple) else (pvals,)
        r = pd.to_numeric(group["reward"], errors="coerce")
        n = pd.to_numeric(group["nfe"], errors="coerce")
        ok = r.notna() & n.notna()
        for method in dict.fromkeys(labels[group.index]):
            sel = ok & (labels[group.index] == method)
            ax.scatter(n[sel], r[sel], s=14, alpha=0.7, label=method)
        front = pareto_front(n[ok].to_numpy(float), r[ok].to_numpy(float))
        if len(front):
            ax.step(front[:, 0], front[:, 1], where="post", color="black", lw=1,
                    label="Pareto front")
        ax.set_xscale("log")
        ax.set_xlabel("NFE per query")
        ax.set_ylabel("reward")
        ax.set_title(", ".join(f"{short(k, data.arm_keys)}={show(v)}"
                               for k, v in zip(pkeys, pvals)) or "all runs", fontsize=9)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    caption = "Every completed run (run means); the front holds the runs that no other run " \
              "beats on both reward (higher) and NFE (lower)."
    if len(panels) > MAX_PANELS:
        caption += f" First {MAX_PANELS} of {len(panels)} panels."
    return [_figure("pareto_reward_nfe.png", "Reward against NFE", caption, fig)]


def pareto_front(cost: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Points not dominated (lower cost and higher value), by increasing cost."""
    order = np.lexsort((-value, cost))
    best = -math.inf
    out = []
    for i in order:
        if value[i] > best:
            out.append((cost[i], value[i]))
            best = value[i]
    return np.array(out)


def spectra(report) -> list:
    data = report.data
    done = data.completed
    method_of = _method_of(report)
    table_arms = [r.arm for r in report.rows]
    sampled = [a for a in done["arm"].unique() if "search.method" in data.arm_keys
               and _hashable(done.loc[done["arm"] == a, "search.method"].iloc[0]) == "sample"]
    by_panel: dict[str, list[str]] = {}
    for r in report.rows:
        by_panel.setdefault(r.panel, []).append(r.arm)
    for arm in sampled:  # the sampled decoding, beside what search does
        for panel, arms in by_panel.items():
            if arm not in arms and _in_panel(report, arm, panel):
                arms.append(arm)
    if not table_arms:
        return []
    plt = _plt()
    panels = [(p, a) for p, a in by_panel.items()][:MAX_PANELS]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    drew = False
    for ax, (panel, arms) in zip(axes[0], panels):
        truth = None
        for arm in arms:
            spectrum = _mean_psd(done[done["arm"] == arm]["run_dir"])
            if spectrum is None:
                continue
            freqs, forecast, true = spectrum
            if truth is None and true is not None:
                truth = (freqs, true)
                ax.plot(freqs, true, color="black", lw=2, label="truth (future)")
            pr = pd.to_numeric(done.loc[done["arm"] == arm, "power_ratio"], errors="coerce") \
                .mean() if "power_ratio" in done else math.nan
            label = next((r.label for r in report.rows if r.arm == arm and r.panel == panel),
                         method_of.get(arm, "sample"))
            ax.plot(freqs, forecast, label=f"{label} (power ratio {pr:.3g})")
            drew = True
        ax.set_yscale("log")
        ax.set_xlabel("frequency")
        ax.set_ylabel("power")
        ax.set_title(panel or "forecast spectra", fontsize=9)
        if ax.lines:
            ax.legend(fontsize=7)
    if not drew:
        plt.close(fig)
        return []
    fig.tight_layout()
    return [_figure("psd_overlay.png", "Power spectra of the forecasts",
                    "Mean Welch spectrum over queries and seeds of each method's forecasts "
                    "and of the true future; a power ratio below 1 is spectral collapse.",
                    fig)]


def _in_panel(report, arm, panel) -> bool:
    if not report.panel_keys:
        return True
    row = report.data.primary[report.data.primary["arm"] == arm].iloc[0]
    text = ", ".join(f"{short(k, report.data.arm_keys)}={show(row[k])}"
                     for k in report.panel_keys)
    return text == panel


def _mean_psd(run_dirs):
    from pathlib import Path

    forecasts, truths, freqs = [], [], None
    for folder in run_dirs:
        path = Path(str(folder)) / "psd.npz"
        if not path.is_file():
            continue
        with np.load(path) as z:
            freqs = z["freqs"]
            forecasts.append(z["forecast"])
            truths.append(z["truth"])
    forecast = np.concatenate(forecasts) if forecasts else np.empty((0, 0))
    if freqs is None or not np.isfinite(forecast).any():
        return None  # no forecast of this method parsed: nothing to draw
    forecast = np.nanmean(forecast, axis=0)
    truth = np.concatenate(truths)
    return freqs, forecast, np.nanmean(truth, axis=0) if np.isfinite(truth).any() else None


def training(report) -> list:
    runs = report.data.runs
    # runs whose history is per-query rows are not training runs: not read again
    done = runs[(runs["state"] == "completed") & ~runs["run_id"].isin(report.data.query_runs)]
    curves = []
    for run_id, run_dir in zip(done["run_id"], done["run_dir"]):
        if len(curves) >= MAX_TRAINING_RUNS:
            break
        h = read_history(run_dir)
        if "train/loss" in h:
            curves.append((run_id, h))
    if not curves:
        return []
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), squeeze=False)
    loss_ax, val_ax = axes[0]
    for run_id, h in curves:
        rows = h[h["train/loss"].notna()]
        loss_ax.plot(rows["step"], rows["train/loss"], lw=1, label=run_id)
        vals = [c for c in h.columns if c.startswith("val/")]
        for c in vals[:2]:
            v = h[h[c].notna()]
            val_ax.plot(v["step"], v[c], marker=".", label=f"{run_id} {c}")
    loss_ax.set_xlabel("step")
    loss_ax.set_ylabel("train/loss")
    val_ax.set_xlabel("step")
    val_ax.set_ylabel("validation")
    loss_ax.legend(fontsize=7)
    if val_ax.lines:
        val_ax.legend(fontsize=7)
    fig.tight_layout()
    return [_figure("training_curves.png", "Training curves",
                    f"Training loss and validation metrics per step of the sweep's training "
                    f"runs (at most {MAX_TRAINING_RUNS}).", fig)]


def parallel(report) -> list:
    data = report.data
    done = data.completed
    objective = "reward" if "reward" in done else next(
        (m for m in report.settings.metrics if m in done), None)
    keys = data.arm_keys
    if objective is None or not keys or len(done) < 2:
        return []
    y = pd.to_numeric(done[objective], errors="coerce")
    frame = done[y.notna()]
    y = y[y.notna()]
    if len(frame) > MAX_PARALLEL_LINES:  # evenly spaced in plan order: deterministic
        pick = np.linspace(0, len(frame) - 1, MAX_PARALLEL_LINES).astype(int)
        frame, y = frame.iloc[pick], y.iloc[pick]
    axes_values, ticks = [], []
    for k in keys:
        col = frame[k].map(_hashable)
        if col.map(is_number).all():
            v = col.astype(float).to_numpy()
            lo, hi = np.nanmin(v), np.nanmax(v)
            axes_values.append((v - lo) / (hi - lo) if hi > lo else v * 0 + 0.5)
            ticks.append([(0.0, show(lo)), (1.0, show(hi))])
        else:
            cats = sorted(col.map(str).unique())
            code = col.map(str).map({c: i for i, c in enumerate(cats)}).to_numpy(float)
            n = max(len(cats) - 1, 1)
            axes_values.append(code / n)
            ticks.append([(i / n, c) for i, c in enumerate(cats)])
    yv = y.to_numpy(float)
    lo, hi = yv.min(), yv.max()
    axes_values.append((yv - lo) / (hi - lo) if hi > lo else yv * 0 + 0.5)
    ticks.append([(0.0, f"{lo:.3g}"), (1.0, f"{hi:.3g}")])
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(6, 1.8 * len(axes_values)), 4))
    matrix = np.vstack(axes_values).T
    cmap = plt.get_cmap("viridis")
    colour = (yv - lo) / (hi - lo) if hi > lo else np.full(len(yv), 0.5)
    xs = np.arange(matrix.shape[1])
    from matplotlib.collections import LineCollection

    ax.add_collection(LineCollection([np.column_stack([xs, row]) for row in matrix],
                                     colors=cmap(colour), alpha=0.4, linewidths=0.8))
    ax.set_xlim(-0.1, len(xs) - 0.6)
    ax.set_ylim(-0.05, 1.05)
    for i, tick in enumerate(ticks):
        ax.axvline(i, color="grey", lw=0.5)
        for pos, text in tick:
            ax.text(i, pos, f" {text}", fontsize=7, va="center")
    ax.set_xticks(xs, [short(k, keys) for k in keys] + [objective], fontsize=8)
    ax.set_yticks([])
    fig.tight_layout()
    return [_figure("parallel_coordinates.png", f"Parameters against {objective}",
                    f"One line per completed run (at most {MAX_PARALLEL_LINES}), coloured by "
                    f"{objective}; each axis scaled to its range.", fig)]


def all_figures(report) -> list:
    from sdt.report.optuna_plots import optuna_figures

    figs = []
    for make in (study_curves, pareto, spectra, training, parallel):
        figs.extend(make(report))
    figs.extend(optuna_figures(report))
    return figs
