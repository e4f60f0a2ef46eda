"""A run SIGKILLed between staging and publish: the next run takes the claim over, finishes the
file, and the marts hold every event exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import duckdb

from flows.elt_ingest import elt_ingest
from tests.integration.elt.helpers import COMPARED_COLUMNS, drop, duckdb_rows, expected
from tests.servers import ROOT

LEASE_S = 2


def test_a_run_killed_before_publish_is_finished_by_the_next(elt_settings, monkeypatch, prefect_api):
    drop(elt_settings, "sample.csv")
    monkeypatch.setenv("KI_ELT_CLAIM_LEASE_S", str(LEASE_S))
    env = os.environ | {"PREFECT_API_URL": prefect_api, "KI_ELT_CLAIM_LEASE_S": str(LEASE_S)}
    crashed = subprocess.run([sys.executable, "-m", "tests.integration.elt.crash_elt"], cwd=ROOT, env=env,
                             capture_output=True, timeout=300)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr.decode()[-2000:]
    with duckdb.connect(str(elt_settings.duckdb_file)) as con:
        assert con.execute("select count(*) from elt_staging.clickstream").fetchone()[0] == 1000
        tables = con.execute("select count(*) from information_schema.tables "
                             "where table_schema = 'clickstream'").fetchone()[0]
    assert tables == 0  # nothing was published
    assert (elt_settings.data_dir / "lake/landing/clickstream/sample.csv").exists()

    held = elt_ingest()  # the dead run's lease is still live: the file is left alone
    assert (held["skipped"], held["done"]) == (1, 0)
    time.sleep(LEASE_S + 0.5)
    summary = elt_ingest()
    assert (summary["done"], summary["new_events"], summary["reconciles"]) == (1, 1000, True)
    for mart, columns in COMPARED_COLUMNS.items():
        assert duckdb_rows(elt_settings, mart, columns) == expected(mart), mart
    with duckdb.connect(str(elt_settings.duckdb_file)) as con:
        assert con.execute("select count(*), count(distinct event_id) from clickstream.events").fetchone() \
            == (1000, 1000)
        assert con.execute("select count(*) from elt_staging.clickstream").fetchone()[0] == 0
