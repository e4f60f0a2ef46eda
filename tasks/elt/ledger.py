"""The ELT ledger: which run holds which landed file, and which sinks each file reached.

A claim is a row keyed by the file's identity (lake key + size + ETag/generation/mtime),
inserted with ``ON CONFLICT DO NOTHING``: of two runs racing for one file exactly
one gets it. A claim is a lease: a run killed mid-file leaves it behind, and once
the lease has expired the next run takes the file over and finishes it. Sink writes
are recorded per (file, sink), so a retry writes only to the sinks a file has not
reached yet.

SQLite beside the warehouse on one machine, the warehouse's Postgres in production
(SQL that both accept, through SQLAlchemy).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import sqlalchemy as sa

SCHEMA = """
create table if not exists elt_files (
    file_id text primary key,
    dataset text not null,
    lake_key text not null,
    size bigint not null,
    version text not null,
    state text not null,            -- claimed | done | failed
    owner text not null,            -- run id holding (or last holding) the claim
    lease_until double precision not null,
    updated_at double precision not null,
    detail text
);
create table if not exists elt_sink_writes (
    file_id text not null,
    sink text not null,
    rows_written bigint not null,
    run_id text not null,
    written_at double precision not null,
    primary key (file_id, sink)
)
"""


@dataclass(frozen=True)
class ClaimOutcome:
    claimed: bool
    reason: str
    """claimed | taken_over (expired lease) | done | failed | held (another run's live lease)."""


class Ledger:
    def __init__(self, url: str):
        options = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
        self.engine = sa.create_engine(url, **options)
        with self.engine.begin() as con:
            if url.startswith("sqlite"):
                con.exec_driver_sql("pragma journal_mode=wal")
            for statement in SCHEMA.split(";"):
                con.exec_driver_sql(statement)

    def close(self) -> None:
        self.engine.dispose()

    def claim(self, *, file_id: str, dataset: str, lake_key: str, size: int, version: str,
              run_id: str, lease_s: float) -> ClaimOutcome:
        now = time.time()
        params = {"id": file_id, "dataset": dataset, "key": lake_key, "size": size, "version": version,
                  "owner": run_id, "lease": now + lease_s, "now": now}
        with self.engine.begin() as con:
            inserted = con.execute(sa.text(
                "insert into elt_files (file_id, dataset, lake_key, size, version, state, owner,"
                " lease_until, updated_at) values (:id, :dataset, :key, :size, :version, 'claimed',"
                " :owner, :lease, :now) on conflict (file_id) do nothing"), params).rowcount
            if inserted:
                return ClaimOutcome(True, "claimed")
            taken = con.execute(sa.text(
                "update elt_files set owner = :owner, lease_until = :lease, updated_at = :now"
                " where file_id = :id and state = 'claimed' and (lease_until < :now or owner = :owner)"),
                params).rowcount
            if taken:
                return ClaimOutcome(True, "taken_over")
            state = con.execute(sa.text("select state from elt_files where file_id = :id"), params).scalar_one()
        return ClaimOutcome(False, "held" if state == "claimed" else state)

    def renew(self, file_id: str, run_id: str, lease_s: float) -> None:
        self._update(file_id, run_id, "lease_until = :lease", lease=time.time() + lease_s)

    def release(self, file_id: str, run_id: str, detail: str) -> None:
        """Give the file back (a sink failed): the next run may claim it at once."""
        self._update(file_id, run_id, "lease_until = 0, detail = :detail", detail=detail)

    def finish(self, file_id: str, run_id: str, state: str, detail: str | None = None) -> None:
        self._update(file_id, run_id, "state = :state, detail = :detail", state=state, detail=detail)

    def _update(self, file_id: str, run_id: str, assignments: str, **values) -> None:
        with self.engine.begin() as con:
            changed = con.execute(sa.text(
                f"update elt_files set {assignments}, updated_at = :now"
                " where file_id = :id and owner = :owner and state = 'claimed'"),
                {"id": file_id, "owner": run_id, "now": time.time(), **values}).rowcount
        if not changed:
            raise LostClaim(f"file {file_id} is no longer claimed by run {run_id}")

    def record_sink(self, file_id: str, sink: str, rows: int, run_id: str) -> None:
        with self.engine.begin() as con:
            con.execute(sa.text(
                "insert into elt_sink_writes (file_id, sink, rows_written, run_id, written_at)"
                " values (:id, :sink, :rows, :run, :now) on conflict (file_id, sink) do nothing"),
                {"id": file_id, "sink": sink, "rows": rows, "run": run_id, "now": time.time()})

    def sinks_written(self, file_id: str) -> dict[str, dict]:
        with self.engine.connect() as con:
            rows = con.execute(sa.text(
                "select sink, rows_written, run_id from elt_sink_writes where file_id = :id"),
                {"id": file_id}).all()
        return {sink: {"rows": n, "run_id": run} for sink, n, run in rows}

    def file(self, file_id: str) -> dict | None:
        with self.engine.connect() as con:
            row = con.execute(sa.text("select * from elt_files where file_id = :id"),
                              {"id": file_id}).mappings().first()
        return dict(row) if row else None


class LostClaim(RuntimeError):
    """Another run took the file over (this run outlived its lease): stop touching it."""


def ledger_url(settings) -> str:
    if settings.elt_ledger_url:
        return settings.elt_ledger_url.get_secret_value()
    if settings.warehouse == "postgres":
        return "postgresql+psycopg://"  # libpq reads host, user, password … from PG* variables
    settings.duckdb_file.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{settings.duckdb_file.with_suffix('.elt-ledger.sqlite')}"
