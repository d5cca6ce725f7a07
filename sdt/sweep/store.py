"""The results store: one SQL database (embedded SQLite by default, any SQLAlchemy URL) that
holds every run's state, claim, lease, outcome and final metrics, and which sweeps (and
studies) each run belongs to.

State lives here and nowhere else: a run directory may hold a finished ``outcome.json`` but
the run counts as done only when its record says ``completed``.

Claims are conditional updates (``UPDATE ... WHERE state = 'pending' OR (state = 'running'
AND lease expired)``), so of two managers racing for one run exactly one sees a row count of
one. The process that executes a run renews its lease (:meth:`Store.renew`); a record whose
lease ran out, or whose manager process on this host is gone, is claimed again.

>>> store = Store("sqlite://")                       # in memory, for a quick look
>>> store.register("demo", [("a1", "sleep", {"sleep": {"seconds": 0}}, ["s"], 0, {})])
>>> store.claim("a1"), store.claim("a1")
(True, False)
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import Iterable

import sqlalchemy as sa

from sdt.errors import UserError

STATES = ("pending", "running", "completed", "failed", "nan", "oom", "pruned")
TERMINAL = frozenset({"completed", "failed", "nan", "oom", "pruned"})
DEFAULT_STORE = "runs/sdt.db"
DEFAULT_LEASE_S = 30.0
LEASE_ENV = "SDT_LEASE_S"  # seconds; overrides the default lease (tests, flaky networks)

metadata = sa.MetaData()

runs_table = sa.Table(
    "runs", metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(128), nullable=False),
    sa.Column("config", sa.Text, nullable=False),  # resolved config, JSON
    sa.Column("state", sa.String(16), nullable=False, index=True),
    sa.Column("owner", sa.String(200)),  # "<host>:<manager pid>:<token>" of the claim holder
    sa.Column("host", sa.String(200)),
    sa.Column("pid", sa.Integer),  # the process executing the run
    sa.Column("device", sa.String(32)),
    sa.Column("heartbeat", sa.Float),
    sa.Column("lease_expires", sa.Float),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),  # claims since last reset
    sa.Column("executions", sa.Integer, nullable=False, default=0),  # times a process began it
    sa.Column("error", sa.Text),
    sa.Column("traceback", sa.Text),
    sa.Column("metrics", sa.Text),  # final metrics, JSON
    sa.Column("step", sa.Integer),  # where a nan/pruned run stopped
    sa.Column("created", sa.Float),
    sa.Column("started", sa.Float),
    sa.Column("finished", sa.Float),
    sa.Column("duration_s", sa.Float),
    sa.Column("code_version", sa.String(128)),
    sa.Column("run_dir", sa.Text),
)

members_table = sa.Table(
    "sweep_runs", metadata,
    sa.Column("sweep", sa.String(200), primary_key=True),
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.run_id"), primary_key=True),
    sa.Column("studies", sa.Text, nullable=False),  # JSON list: every study listing this run
    sa.Column("seed", sa.Integer),
    sa.Column("overrides", sa.Text),  # JSON: the sweep point that produced the run
    sa.Column("position", sa.Integer),  # execution order in the sweep's plan
)

trials_table = sa.Table(
    "study_trials", metadata,  # which runs an Optuna trial of a sweep's study is made of
    sa.Column("sweep", sa.String(200), primary_key=True),
    sa.Column("study", sa.String(200), primary_key=True),
    sa.Column("trial", sa.Integer, primary_key=True),  # Optuna's trial number in the study
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.run_id"), primary_key=True),
)


def _worker_statements() -> dict:
    """The statements run for every run (claim, start, finish), built once with bound
    parameters (building SQLAlchemy constructs per call costs more than executing them on
    SQLite)."""
    t, p = runs_table.c, sa.bindparam
    outcome = dict(
        # A failed run goes back to pending while it has retries left (b_retry_bound is -1
        # for every other state).
        state=sa.case((t.attempts <= p("b_retry_bound"), "pending"),
                      else_=p("b_state", type_=sa.String)),
        metrics=p("b_metrics"), error=p("b_error"), traceback=p("b_traceback"),
        duration_s=p("b_duration_s"), step=p("b_step"), finished=p("b_finished"),
        lease_expires=None)
    mine = runs_table.update().where(t.run_id == p("b_run_id"), t.owner == p("b_owner"),
                                     t.state == "running").values(**outcome)
    # Take a pending run, or a running one whose lease has expired: a manager's claim (no
    # process yet) or a worker's claim that also begins the execution.
    take = runs_table.update().where(
        t.run_id == p("b_run_id"),
        sa.or_(t.state == "pending",
               sa.and_(t.state == "running", t.lease_expires < p("b_now"))),
    ).values(state="running", owner=p("b_owner"), host=p("b_host"), heartbeat=p("b_now"),
             lease_expires=p("b_lease_expires"), attempts=t.attempts + 1)
    claim = take.values(pid=None, device=None, started=None)
    start = take.values(pid=p("b_pid"), device=p("b_device"), started=p("b_now"),
                        code_version=p("b_code_version"), executions=t.executions + 1)
    renew = runs_table.update().where(
        t.run_id == p("b_run_id"), t.owner == p("b_owner"), t.state == "running",
    ).values(heartbeat=p("b_now"), lease_expires=p("b_lease_expires"))
    return {"mine": mine, "claim": claim, "start": start, "renew": renew,
            "mine_returning": mine.returning(t.state),
            "state_of": sa.select(t.state).where(t.run_id == p("b_run_id"))}


_WORKER_STATEMENTS = _worker_statements()


def resolve_url(cli: str | None = None, spec_store: str | None = None) -> str:
    """``--store`` beats the sweep's ``store:`` beats ``runs/sdt.db``; a plain path (relative to
    the current folder) becomes a SQLite URL and its folder is created."""
    target = cli or spec_store or DEFAULT_STORE
    if "://" in target:
        return target
    path = Path(target).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def code_version() -> str:
    """``git describe --always --dirty`` of the current folder, else the package version."""
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True,
                             text=True, timeout=5)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    import sdt

    return f"sdt-{sdt.__version__}"


def _engine(url: str) -> sa.Engine:
    if not url.startswith("sqlite"):
        return sa.create_engine(url, pool_pre_ping=True)
    memory = url in ("sqlite://", "sqlite:///:memory:")
    engine = sa.create_engine(
        url, connect_args={"timeout": 60},
        poolclass=sa.pool.StaticPool if memory else sa.pool.QueuePool,
    )

    sqlite_pragmas(engine, wal=not memory)
    return engine


def sqlite_pragmas(engine: sa.Engine, wal: bool = True) -> None:
    """Settings for every SQLite connection of ``engine`` (the store's, and Optuna's on the same
    file): WAL, so readers never block the writer; synchronous=NORMAL, so a commit does not
    wait for the disk (a crash of the machine may lose the last commits, never corrupts);
    busy_timeout, so writers queue instead of failing."""

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record):
        cur = dbapi_conn.cursor()
        if wal:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()


def _owner_pid(owner: str | None) -> tuple[str | None, int | None]:
    if not owner:
        return None, None
    parts = owner.rsplit(":", 2)
    try:
        return parts[0], int(parts[1])
    except (IndexError, ValueError):
        return None, None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Store:
    """A handle on the store. ``owner`` identifies the claim holder (a manager process); workers
    that execute a manager's runs open the store with the manager's owner string."""

    def __init__(self, url: str | None = None, *, owner: str | None = None,
                 lease_s: float | None = None):
        self.url = resolve_url(url)
        try:
            self.engine = _engine(self.url)
        except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
            raise UserError(f"store {self.url!r}: not a usable SQLAlchemy URL ({exc})") from None
        self.host = socket.gethostname()
        self.owner = owner or f"{self.host}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease_s = lease_s or float(os.environ.get(LEASE_ENV) or DEFAULT_LEASE_S)
        self._create_tables()

    def _create_tables(self) -> None:
        for attempt in range(5):  # two processes creating the schema at once: one wins
            try:
                metadata.create_all(self.engine)
                return
            except sa.exc.OperationalError as exc:
                if attempt == 4:
                    raise UserError(f"store {self.url!r}: cannot open it "
                                    f"({exc.orig or exc})") from None
                time.sleep(0.1 * (attempt + 1))

    def close(self) -> None:
        self.engine.dispose()

    # ----------------------------------------------------------------- registration

    def register(self, sweep: str | None, entries: Iterable[tuple], *,
                 run_dirs: dict[str, str] | None = None) -> None:
        """Record runs (new ones as ``pending``) and, when ``sweep`` is given, make them exactly
        the sweep's members: ``entries`` are ``(run_id, kind, config_dict, studies, seed,
        overrides)`` in execution order. Existing run records keep their state."""
        entries = list(entries)
        with self.engine.begin() as conn:
            self._insert_missing(conn, _new_rows(entries, run_dirs))
            if sweep is None:
                return
            conn.execute(members_table.delete().where(members_table.c.sweep == sweep))
            if entries:
                conn.execute(members_table.insert(), [
                    {"sweep": sweep, "run_id": e[0], "studies": json.dumps(list(e[3])),
                     "seed": e[4], "overrides": json.dumps(e[5], sort_keys=True, default=str),
                     "position": i} for i, e in enumerate(entries)])
            # The runs of Optuna trials stay members (with their study) whatever the plan says.
            t = trials_table.c
            for run_id, study in conn.execute(sa.select(t.run_id, t.study).where(
                    t.sweep == sweep).order_by(t.trial)).all():
                self._merge_member(conn, sweep, run_id, study, None, {})

    def add_trial(self, sweep: str, study: str, trial: int, entries: Iterable[tuple], *,
                  run_dirs: dict[str, str] | None = None) -> None:
        """Record the runs of trial ``trial`` of ``study`` (``entries`` as in :meth:`register`:
        the trial's runs and the runs they depend on) as members of ``sweep`` tagged with the
        study, without touching the sweep's other members."""
        entries = list(entries)
        with self.engine.begin() as conn:
            self._insert_missing(conn, _new_rows(entries, run_dirs))
            for e in entries:
                self._merge_member(conn, sweep, e[0], study, e[4], e[5])
                if study in e[3]:
                    conn.execute(trials_table.delete().where(
                        trials_table.c.sweep == sweep, trials_table.c.study == study,
                        trials_table.c.trial == trial, trials_table.c.run_id == e[0]))
                    conn.execute(trials_table.insert().values(sweep=sweep, study=study,
                                                              trial=trial, run_id=e[0]))

    def _merge_member(self, conn, sweep: str, run_id: str, study: str, seed, overrides) -> None:
        """Make ``run_id`` a member of ``sweep`` carrying ``study`` (added to its tags)."""
        m = members_table.c
        row = conn.execute(sa.select(m.studies).where(m.sweep == sweep,
                                                      m.run_id == run_id)).first()
        if row is None:
            last = conn.execute(sa.select(sa.func.max(m.position)).where(
                m.sweep == sweep)).scalar()
            conn.execute(members_table.insert().values(
                sweep=sweep, run_id=run_id, studies=json.dumps([study]), seed=seed,
                overrides=json.dumps(overrides, sort_keys=True, default=str),
                position=(last or 0) + 1))
            return
        studies = json.loads(row[0])
        if study not in studies:
            conn.execute(members_table.update().where(m.sweep == sweep, m.run_id == run_id)
                         .values(studies=json.dumps(sorted([*studies, study]))))

    def trials(self, sweep: str) -> dict[str, dict[str, list[int]]]:
        """run_id -> study -> the trial numbers it served, for a sweep's Optuna studies."""
        t = trials_table.c
        out: dict[str, dict[str, list[int]]] = {}
        with self.engine.connect() as conn:
            for run_id, study, trial in conn.execute(sa.select(t.run_id, t.study, t.trial)
                                                     .where(t.sweep == sweep)
                                                     .order_by(t.trial)):
                out.setdefault(run_id, {}).setdefault(study, []).append(trial)
        return out

    def _insert_missing(self, conn, rows: list[dict]) -> None:
        if not rows:
            return
        name = self.engine.dialect.name
        if name in ("sqlite", "postgresql"):
            dialect = __import__(f"sqlalchemy.dialects.{name}", fromlist=["insert"])
            stmt = dialect.insert(runs_table).on_conflict_do_nothing(index_elements=["run_id"])
            for start in range(0, len(rows), 500):
                conn.execute(stmt, rows[start:start + 500])
            return
        known = {r[0] for r in conn.execute(sa.select(runs_table.c.run_id).where(
            runs_table.c.run_id.in_([r["run_id"] for r in rows])))}
        missing = [r for r in rows if r["run_id"] not in known]
        if missing:
            conn.execute(runs_table.insert(), missing)

    def reset(self, run_ids: Iterable[str], from_states: Iterable[str]) -> int:
        """Put runs in ``from_states`` back to ``pending`` (``--retry-failed``, ``--rerun``);
        never touches a run that is ``running``. Returns how many were reset."""
        states = [s for s in from_states if s != "running"]
        ids = list(run_ids)
        count = 0
        with self.engine.begin() as conn:
            for start in range(0, len(ids), 500):
                count += conn.execute(runs_table.update().where(
                    runs_table.c.run_id.in_(ids[start:start + 500]),
                    runs_table.c.state.in_(states),
                ).values(state="pending", attempts=0, owner=None)).rowcount
        return count

    # ----------------------------------------------------------------- claims and leases

    def claim(self, run_id: str, now: float | None = None) -> bool:
        """Atomically take a ``pending`` run, or a ``running`` one whose lease has expired.
        True when this owner now holds it."""
        now = time.time() if now is None else now
        with self.engine.begin() as conn:
            return conn.execute(_WORKER_STATEMENTS["claim"], {
                "b_run_id": run_id, "b_owner": self.owner, "b_host": self.host, "b_now": now,
                "b_lease_expires": now + self.lease_s}).rowcount == 1

    def renew(self, run_id: str, now: float | None = None) -> bool:
        """Renew the lease of one run (from the process executing it); False when this owner
        no longer holds the claim."""
        now = time.time() if now is None else now
        with self.engine.begin() as conn:
            return conn.execute(_WORKER_STATEMENTS["renew"], {
                "b_run_id": run_id, "b_owner": self.owner, "b_now": now,
                "b_lease_expires": now + self.lease_s}).rowcount == 1

    def reclaim_orphans(self) -> list[str]:
        """Return to ``pending`` the ``running`` runs claimed on this host by a manager process
        that no longer exists (killed, crashed): no need to wait for their leases to expire.
        Runs held by other hosts are left to lease expiry."""
        with self.engine.connect() as conn:
            held = conn.execute(sa.select(runs_table.c.run_id, runs_table.c.owner).where(
                runs_table.c.state == "running")).all()
        freed = []
        for run_id, owner in held:
            host, pid = _owner_pid(owner)
            if host != self.host or pid is None or owner == self.owner or _pid_alive(pid):
                continue
            with self.engine.begin() as conn:
                if conn.execute(runs_table.update().where(
                        runs_table.c.run_id == run_id, runs_table.c.owner == owner,
                        runs_table.c.state == "running").values(state="pending", owner=None)
                        ).rowcount:
                    freed.append(run_id)
        return freed

    def release(self, run_id: str) -> bool:
        """Give a claimed run back (``pending``) without counting the attempt."""
        with self.engine.begin() as conn:
            return conn.execute(runs_table.update().where(
                runs_table.c.run_id == run_id, runs_table.c.owner == self.owner,
                runs_table.c.state == "running",
            ).values(state="pending", owner=None, attempts=runs_table.c.attempts - 1)
            ).rowcount == 1

    def start_execution(self, run_id: str, *, pid: int, device: str,
                        code_version: str | None = None) -> bool:
        """Mark the moment a process begins the run (``executions`` + 1). False when this
        owner no longer holds the claim, in which case the run must not be executed."""
        now = time.time()
        with self.engine.begin() as conn:
            return conn.execute(runs_table.update().where(
                runs_table.c.run_id == run_id, runs_table.c.owner == self.owner,
                runs_table.c.state == "running",
            ).values(pid=pid, device=device, started=now, heartbeat=now,
                     executions=runs_table.c.executions + 1, code_version=code_version)
            ).rowcount == 1

    def finish(self, run_id: str, state: str, *, metrics: dict | None = None,
               error: str | None = None, traceback: str | None = None,
               duration_s: float | None = None, step: int | None = None,
               retries: int = 0) -> str | None:
        """Record a run's outcome; returns the state written, or None when the claim was lost.

        A ``failed`` run with ``attempts <= retries`` goes back to ``pending`` (keeping its
        error) so it is tried again. Nothing is written once the claim is lost (another
        process claimed the run after this one's lease ran out and is executing it now, or
        has recorded it): the holder of the claim records the run, so no outcome is ever
        written over another process's claim.
        """
        with self.engine.begin() as conn:
            return self._finish(conn, run_id, state, metrics=metrics, error=error,
                                traceback=traceback, duration_s=duration_s, step=step,
                                retries=retries)

    def finish_and_start(self, finished: dict | None, next_run: str | None, *, pid: int,
                         device: str, code_version: str | None = None
                         ) -> tuple[str | None, bool]:
        """A worker between two runs, in one transaction: record the run it just executed
        (``finished``: ``run_id``, ``state`` and the keywords of :meth:`finish`; None for
        none) and claim and begin ``next_run`` (None for none) as :meth:`claim` followed by
        :meth:`start_execution` would. Returns the state written for ``finished`` (None when
        its claim was lost) and whether ``next_run`` may be executed."""
        state, started = None, False
        with self.engine.begin() as conn:
            if finished is not None:
                state = self._finish(conn, **finished)
            if next_run is not None:
                now = time.time()
                started = conn.execute(_WORKER_STATEMENTS["start"], {
                    "b_run_id": next_run, "b_owner": self.owner, "b_host": self.host,
                    "b_now": now, "b_lease_expires": now + self.lease_s, "b_pid": pid,
                    "b_device": device, "b_code_version": code_version}).rowcount == 1
        return state, started

    def _finish(self, conn, run_id: str, state: str, *, metrics: dict | None = None,
                error: str | None = None, traceback: str | None = None,
                duration_s: float | None = None, step: int | None = None,
                retries: int = 0) -> str | None:
        if state not in TERMINAL:
            raise ValueError(f"not a final state: {state!r}")
        params = {"b_run_id": run_id, "b_owner": self.owner, "b_state": state,
                  "b_retry_bound": retries if state == "failed" else -1,
                  "b_metrics": json.dumps(metrics or {}, default=_json_default),
                  "b_error": error, "b_traceback": traceback, "b_duration_s": duration_s,
                  "b_step": step, "b_finished": time.time()}
        returning = self.engine.dialect.update_returning  # one round trip (SQLite, PostgreSQL)
        if returning:
            return conn.execute(_WORKER_STATEMENTS["mine_returning"], params).scalar()
        if conn.execute(_WORKER_STATEMENTS["mine"], params).rowcount:
            return conn.execute(_WORKER_STATEMENTS["state_of"], params).scalar_one()
        return None

    # ----------------------------------------------------------------- queries

    def states(self, run_ids: Iterable[str] | None = None,
               now: float | None = None) -> dict[str, str]:
        """run_id -> state, for the given runs (all runs when None). With ``now``, a
        ``running`` run whose lease ran out is reported as ``expired`` (claimable)."""
        t = runs_table.c
        query = sa.select(t.run_id, t.state, t.lease_expires)
        rows = []
        with self.engine.connect() as conn:
            if run_ids is None:
                rows = conn.execute(query).all()
            else:
                ids = list(run_ids)
                for start in range(0, len(ids), 500):
                    rows += conn.execute(query.where(t.run_id.in_(ids[start:start + 500]))).all()
        return {run_id: "expired" if now is not None and state == "running"
                and lease is not None and lease < now else state
                for run_id, state, lease in rows}

    def get(self, run_id: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(runs_table).where(
                runs_table.c.run_id == run_id)).mappings().first()
        return _decode(dict(row)) if row else None

    def sweep_runs(self, sweep: str) -> list[dict]:
        """The sweep's runs in plan order: run record + ``studies``, ``seed``, ``overrides``."""
        m = members_table.c
        query = (sa.select(runs_table, m.studies, m.seed, m.overrides, m.position)
                 .join(members_table, m.run_id == runs_table.c.run_id)
                 .where(m.sweep == sweep).order_by(m.position))
        with self.engine.connect() as conn:
            return [_decode(dict(r)) for r in conn.execute(query).mappings()]

    def sweeps(self) -> list[str]:
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(
                sa.select(members_table.c.sweep).distinct().order_by(members_table.c.sweep))]


def _new_rows(entries: list[tuple], run_dirs: dict[str, str] | None) -> list[dict]:
    """Run records for ``(run_id, kind, config, ...)`` entries, as new ``pending`` runs."""
    now, run_dirs = time.time(), run_dirs or {}
    return [{"run_id": e[0], "kind": e[1], "config": json.dumps(e[2], sort_keys=True),
             "state": "pending", "attempts": 0, "executions": 0, "created": now,
             "run_dir": run_dirs.get(e[0])} for e in entries]


def _json_default(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def _decode(row: dict) -> dict:
    for key in ("config", "metrics", "studies", "overrides"):
        if isinstance(row.get(key), str):
            row[key] = json.loads(row[key])
    if row.get("metrics") is None:
        row["metrics"] = {}
    return row
