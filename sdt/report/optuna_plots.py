"""Plots of the sweep's Optuna studies (``<sweep>/<study>`` in the store's database):
optimisation history, parameter importances, Pareto front (multi-objective) and parallel
coordinates, drawn by ``optuna.visualization.matplotlib``.

The store is only read: when its database holds no Optuna tables there is no study (and
nothing is created); a study with too few finished trials for a plot skips that plot and
says so in the report's notes.
"""

from __future__ import annotations

import logging
import warnings

log = logging.getLogger(__name__)
MIN_TRIALS = 2


def study_names(url: str, sweep: str) -> list[str]:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        if "studies" not in sa.inspect(engine).get_table_names():
            return []
        with engine.connect() as conn:
            names = [r[0] for r in conn.execute(sa.text("SELECT study_name FROM studies"))]
    except sa.exc.SQLAlchemyError:
        return []
    finally:
        engine.dispose()
    return sorted(n for n in names if n.startswith(f"{sweep}/"))


def optuna_figures(report) -> list:
    names = study_names(report.data.url, report.name)
    if not names:
        return []
    import optuna
    from optuna.visualization import matplotlib as ovm

    from sdt.report.figures import _figure, _plt

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.RDBStorage(report.data.url, skip_table_creation=True,
                                         skip_compatibility_check=True)
    figs = []
    plt = _plt()
    for name in names:
        study = optuna.load_study(study_name=name, storage=storage)
        done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        slug = name.split("/", 1)[1]
        if len(done) < MIN_TRIALS:
            report.notes.append(f"Optuna study {name}: {len(done)} completed trial(s), "
                                f"no plots (at least {MIN_TRIALS})")
            continue
        multi = len(study.directions) > 1
        names_ = study.metric_names or [f"objective {i}" for i in range(len(study.directions))]
        plots = [("history", "optimisation history", lambda: ovm.plot_optimization_history(
            study, target=(lambda t: t.values[0]) if multi else None,
            target_name=names_[0]))]
        plots.append(("importances", "parameter importances",
                      lambda: ovm.plot_param_importances(
                          study, target=(lambda t: t.values[0]) if multi else None,
                          target_name=names_[0])))
        if multi:
            plots.append(("pareto", "Pareto front", lambda: ovm.plot_pareto_front(
                study, target_names=names_[:3] if len(names_) <= 3 else None)))
        plots.append(("parallel", "parallel coordinates", lambda: ovm.plot_parallel_coordinate(
            study, target=(lambda t: t.values[0]) if multi else None,
            target_name=names_[0])))
        for key, title, draw in plots:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # optuna marks its matplotlib API experimental
                    ax = draw()
            except Exception as exc:  # a plot Optuna cannot draw for this study
                report.notes.append(f"Optuna study {name}: no {title} ({exc})")
                plt.close("all")
                continue
            fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
            figs.append(_figure(f"optuna_{slug}_{key}.png", f"Optuna {name}: {title}",
                                f"{len(done)} completed trials of {len(study.trials)}.", fig))
    return figs
