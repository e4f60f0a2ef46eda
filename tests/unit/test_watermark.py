from datetime import date

import pytest

from tasks.lake import Lake
from tasks.literature.watermark import (
    StateStore,
    SyncState,
    commit_window,
    plan_window,
    query_slug,
    window_run_id,
)

TODAY = date(2024, 3, 10)


def test_first_scheduled_window_looks_back_from_today():
    w = plan_window(SyncState("openalex", ""), None, None, TODAY, lookback_days=2)
    assert (w.since, w.until) == (date(2024, 3, 8), TODAY)
    assert w.run_id == window_run_id("openalex", "", w.since, w.until)


def test_next_window_starts_at_watermark_and_is_none_when_up_to_date():
    state = SyncState("arxiv", "", watermark=date(2024, 3, 5))
    w = plan_window(state, None, None, TODAY)
    assert (w.since, w.until) == (date(2024, 3, 5), TODAY)
    state.watermark = TODAY
    assert plan_window(state, None, None, TODAY) is None


def test_interrupted_window_is_resumed_first():
    state = SyncState("pubmed", "", watermark=date(2024, 3, 1))
    state.in_progress = plan_window(state, None, date(2024, 3, 3), TODAY)
    state.in_progress.pages.append({"key": "k"})
    assert plan_window(state, None, None, TODAY) is state.in_progress


def test_explicit_window_is_a_backfill_that_never_moves_watermark_back():
    state = SyncState("openalex", "", watermark=date(2024, 3, 9))
    w = plan_window(state, date(2024, 1, 1), date(2024, 2, 1), TODAY)
    commit_window(state, w)
    assert state.watermark == date(2024, 3, 9)
    with pytest.raises(ValueError, match="empty window"):
        plan_window(state, date(2024, 2, 1), date(2024, 2, 1), TODAY)


def test_commit_advances_contiguous_windows_and_clears_checkpoint(tmp_path):
    store = StateStore(Lake(tmp_path.as_uri()))
    state = store.load("openalex", "crispr")
    w = plan_window(state, None, None, TODAY)
    state.in_progress = w
    store.save(state)
    reloaded = store.load("openalex", "crispr")
    assert reloaded.in_progress.run_id == w.run_id
    commit_window(reloaded, w)
    store.save(reloaded)
    final = store.load("openalex", "crispr")
    assert final.watermark == TODAY and final.in_progress is None


def test_query_slug_is_readable_and_distinct():
    assert query_slug("") == "all"
    a, b = query_slug("Protein folding!"), query_slug("protein folding?")
    assert a.startswith("protein-folding-") and a != b
