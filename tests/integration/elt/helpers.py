"""What the ELT integration tests share: dropping files, reading marts, and the independent
computation of every mart from the raw CSV (plain SQL in DuckDB, never the pipeline's code)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb
import psycopg

from tasks.elt.dataset import CLICKSTREAM_SAMPLE
from tasks.settings import Settings

MARTS = ("events", "user_sessions", "product_performance", "conversion_funnel")
ORDER = {"events": "event_id", "user_sessions": "user_session",
         "product_performance": "product_id, event_date", "conversion_funnel": "event_date, category_id"}

# The marts' definitions restated over the raw CSV (the REES46 sample has no duplicate events).
RAW = "read_csv('{csv}', header = true, all_varchar = true)"
EXPECTED_SQL = {
    "user_sessions": """
        select user_session, min(cast(user_id as bigint)), min(t), max(t),
               cast(epoch(max(t)) - epoch(min(t)) as bigint), count(*),
               count(*) filter (where event_type = 'view'), count(*) filter (where event_type = 'cart'),
               count(*) filter (where event_type = 'purchase'),
               coalesce(sum(cast(price as decimal(12,2))) filter (where event_type = 'purchase'), 0)
        from (select *, strptime(event_time, '%Y-%m-%d %H:%M:%S UTC') as t from {raw})
        where user_session is not null group by user_session order by user_session""",
    "product_performance": """
        select cast(product_id as bigint) as p, cast(strptime(event_time, '%Y-%m-%d %H:%M:%S UTC') as date) as d,
               count(*) filter (where event_type = 'view'), count(*) filter (where event_type = 'cart'),
               count(*) filter (where event_type = 'purchase'),
               coalesce(sum(cast(price as decimal(12,2))) filter (where event_type = 'purchase'), 0)
        from {raw} group by p, d order by p, d""",
    "conversion_funnel": """
        with pair as (
            select cast(strptime(event_time, '%Y-%m-%d %H:%M:%S UTC') as date) as d,
                   cast(category_id as bigint) as c, coalesce(user_session, user_id) as v, product_id,
                   bool_or(event_type in ('cart', 'purchase')) as carted, bool_or(event_type = 'purchase') as bought
            from {raw} where event_type <> 'remove_from_cart' group by all)
        select d, c, count(*), count(*) filter (where carted), count(*) filter (where bought)
        from pair group by d, c order by d, c nulls first""",
}
PRODUCTS_WITH_TEXT = {r[0] for r in duckdb.sql(
    f"select product_id from {RAW.format(csv=CLICKSTREAM_SAMPLE)} "
    "where category_code is not null or brand is not null").fetchall()}
"""The products the vector sink embeds (those with a category code or a brand)."""

COMPARED_COLUMNS = {
    "user_sessions": "user_session, user_id, session_start, session_end, duration_s, events, views, "
                     "carts, purchases, revenue",
    "product_performance": "product_id, event_date, views, carts, purchases, revenue",
    "conversion_funnel": "event_date, category_id, viewed, carted, purchased",
}


def drop(settings: Settings, name: str, data: bytes | None = None) -> Path:
    """Put a file in the local lake's landing/clickstream/ (the real sample by default)."""
    target = Path(settings.lake_root.removeprefix("file://")) / "landing" / "clickstream" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(CLICKSTREAM_SAMPLE.read_bytes() if data is None else data)
    return target


def expected(mart: str, csv: Path = CLICKSTREAM_SAMPLE) -> list[tuple]:
    return [_norm(r) for r in duckdb.sql(EXPECTED_SQL[mart].format(raw=RAW.format(csv=csv))).fetchall()]


def _norm(row: tuple) -> tuple:
    return tuple(Decimal(str(v)).quantize(Decimal("0.01")) if isinstance(v, (float, Decimal)) else v for v in row)


def duckdb_rows(settings: Settings, mart: str, columns: str = "*", schema: str = "clickstream") -> list[tuple]:
    with duckdb.connect(str(settings.duckdb_file)) as con:
        return [_norm(r) for r in con.execute(
            f"select {columns} from {schema}.{mart} order by {ORDER[mart]} nulls first").fetchall()]


def postgres_rows(mart: str, columns: str = "*", schema: str = "clickstream") -> list[tuple]:
    with psycopg.connect("") as con:
        return [_norm(r) for r in con.execute(
            f"select {columns} from {schema}.{mart} order by {ORDER[mart]} nulls first").fetchall()]


def totals_sql(mart: str) -> str:
    sums = {"events": "count(*), sum(price), count(distinct user_session)",
            "user_sessions": "count(*), sum(revenue), sum(events), sum(duration_s)",
            "product_performance": "count(*), sum(views), sum(purchases), sum(revenue)",
            "conversion_funnel": "count(*), sum(viewed), sum(carted), sum(purchased)"}[mart]
    return f"select {sums} from clickstream.{mart}"
