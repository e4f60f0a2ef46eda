"""Claims: exactly one winner per file across processes, leases that expire, sink records."""

from __future__ import annotations

import multiprocessing
import time

from tasks.elt.ledger import Ledger

FILE = {"file_id": "f1", "dataset": "clickstream", "lake_key": "landing/clickstream/a.csv",
        "size": 10, "version": "1"}


def _race(url: str, run_id: str, results) -> None:
    ledger = Ledger(url)
    results.put((run_id, [ledger.claim(**{**FILE, "file_id": f"f{i}"}, run_id=run_id, lease_s=60).claimed
                          for i in range(50)]))


def test_racing_processes_claim_each_file_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    Ledger(url).close()
    results = multiprocessing.get_context("spawn").Queue()
    racers = [multiprocessing.get_context("spawn").Process(target=_race, args=(url, f"run-{n}", results))
              for n in range(4)]
    for racer in racers:
        racer.start()
    won = [results.get(timeout=60) for _ in racers]
    for racer in racers:
        racer.join(30)
    per_file = [sum(claims[i] for _, claims in won) for i in range(50)]
    assert per_file == [1] * 50


def test_an_expired_lease_is_taken_over_and_a_finished_file_is_never_claimed_again(tmp_path):
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    assert ledger.claim(**FILE, run_id="a", lease_s=0.2).reason == "claimed"
    assert ledger.claim(**FILE, run_id="b", lease_s=60).reason == "held"
    time.sleep(0.3)
    assert ledger.claim(**FILE, run_id="b", lease_s=60).reason == "taken_over"
    ledger.finish("f1", "b", "done")
    assert ledger.claim(**FILE, run_id="c", lease_s=60).reason == "done"


def test_sink_writes_are_recorded_once(tmp_path):
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    ledger.record_sink("f1", "warehouse", 10, "a")
    ledger.record_sink("f1", "warehouse", 0, "b")  # a retry's write is not a second write
    assert ledger.sinks_written("f1") == {"warehouse": {"rows": 10, "run_id": "a"}}
