"""ELT clean → Parquet vs the bare DuckDB floor, and file-to-published-marts time, one run.

Data: a SYNTHETIC clickstream (label: synthetic) shaped like the real REES46 sample in
tasks/elt/samples/: its rows repeated with per-row event times, users, sessions and
products varied, and the sample's mix of event types, categories, brands and prices.

  floor:    one bare ``COPY (SELECT * FROM read_csv(file)) TO 'x.parquet' (COMPRESSION zstd)`` in
            DuckDB: the same codec the clean writes (DuckDB's default, snappy, is ~20% faster)
  clean:    tasks.elt.engine.ArrowEngine.clean (UTF-8 check, typed reads, every cleaning
            rule, event id, quarantine) on the same file
  whole:    tasks.elt.pipeline.ingest of the file landed in a local lake: claim, clean,
            stage into DuckDB, dbt write-audit-publish of events + three marts, move to
            processed/ (includes starting a local Prefect API when PREFECT_API_URL is unset)

Each side runs in its own child process (its own peak RSS), best of ``--repeat``.
Prints rows/s, the ratio clean/floor (target >= 0.5) and peak memory.

    python bench/bench_elt.py --rows 5000000
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import duckdb
from child import in_child

from tasks.elt.dataset import CLICKSTREAM_SAMPLE, load_dataset
from tasks.elt.engine import ArrowEngine


def generate(path: Path, rows: int) -> None:
    """``rows`` synthetic events from the sample's rows, varied per row, as CSV with a header."""
    duckdb.sql(f"""
        copy (
            with sample as (
                select row_number() over () - 1 as k, * from read_csv('{CLICKSTREAM_SAMPLE}', all_varchar = true)
            )
            select strftime(timestamp '2019-10-01' + to_seconds(cast(i // 20 as bigint)), '%Y-%m-%d %H:%M:%S')
                       || ' UTC' as event_time,
                   s.event_type,
                   cast(s.product_id as bigint) + (i % 5000) as product_id,
                   s.category_id, s.category_code, s.brand, s.price,
                   500000000 + (i // 7) % 3000000 as user_id,
                   md5(cast(i // 7 as varchar)) as user_session
            from range({rows}) as r(i) join sample s on s.k = i % 1000
            order by i
        ) to '{path}' (header, delimiter ',')""")


def run_generate(path: str, rows: int, queue) -> None:
    """In a child: the parent stays small, and a spawned child's peak RSS starts from its parent's."""
    start = time.perf_counter()
    generate(Path(path), rows)
    queue.put(time.perf_counter() - start)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_floor(csv: str, out: str, queue) -> None:
    start = time.perf_counter()
    duckdb.sql(f"copy (select * from read_csv('{csv}')) to '{out}' (format parquet, compression zstd)")
    queue.put((time.perf_counter() - start, peak_mb()))


def run_clean(csv: str, out: str, queue) -> None:
    start = time.perf_counter()
    result = ArrowEngine().clean(load_dataset("clickstream"), Path(csv), Path(out), Path(out + ".q"),
                                 source_key="landing/clickstream/bench.csv")
    queue.put((time.perf_counter() - start, peak_mb(), result.cleaned, result.quarantined))


def run_whole(csv: str, data_dir: str, queue) -> None:
    os.environ["KI_DATA_DIR"] = data_dir
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    from tasks.elt.files import describe
    from tasks.elt.pipeline import Context, ingest
    from tasks.settings import load_settings

    ctx = Context.open(load_settings(), "bench")
    landing = Path(data_dir) / "lake" / "landing" / "clickstream"
    landing.mkdir(parents=True)
    os.link(csv, landing / "bench.csv")
    start = time.perf_counter()
    report = ingest(ctx, describe(ctx.lake, "landing/clickstream/bench.csv"))
    queue.put((time.perf_counter() - start, peak_mb(), report.outcome, report.new_events, report.detail))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--no-whole", action="store_true", help="skip the file -> published marts run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-elt-") as tmp_dir:
        tmp = Path(tmp_dir)
        csv = tmp / "clickstream-synthetic.csv"
        took = in_child(run_generate, str(csv), args.rows)
        print(f"generated {args.rows:,} synthetic rows ({csv.stat().st_size / 1e6:.0f} MB) in {took:.1f}s")
        floors, cleans = [], []
        for _ in range(args.repeat):  # alternate, so both see the same machine load
            floors.append(in_child(run_floor, str(csv), str(tmp / "floor.parquet")))
            cleans.append(in_child(run_clean, str(csv), str(tmp / "clean.parquet")))
        floor, clean = min(floors), min(cleans)
        print(f"floor (bare DuckDB COPY):  {floor[0]:6.2f}s  {args.rows / floor[0]:>12,.0f} rows/s  "
              f"peak RSS {floor[1]:,.0f} MB")
        print(f"clean (ArrowEngine):       {clean[0]:6.2f}s  {args.rows / clean[0]:>12,.0f} rows/s  "
              f"peak RSS {clean[1]:,.0f} MB  (cleaned {clean[2]:,}, quarantined {clean[3]:,})")
        print(f"ratio clean/floor (throughput): {floor[0] / clean[0]:.2f}  (target >= 0.5)")
        if args.no_whole:
            return
        data_dir = tmp / "whole"
        whole = in_child(run_whole, str(csv), str(data_dir))
        print(f"whole file -> published marts: {whole[0]:6.1f}s  {args.rows / whole[0]:>10,.0f} rows/s  "
              f"peak RSS {whole[1]:,.0f} MB  outcome {whole[2]}, new events {whole[3]:,} {whole[4] or ''}")
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
