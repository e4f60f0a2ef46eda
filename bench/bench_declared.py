"""Declared JSON source (Crossref) normalise + Parquet vs a floor and vs dlt, in one run.

Data: SYNTHETIC Crossref ``/works`` pages (100 items each, label: synthetic) built from
the 20 REAL recorded items in tests/fixtures/sources/crossref/ (the recorded page's
structure, its items repeated with a distinct DOI and URL per record), landed into a
temporary lake the way a sync lands them (gzip raw pages + manifest, tasks/lake.py and
tasks/literature/landing.py) with the ``Checkpoint`` normalise_window reads.

  floor:    orjson.loads of the same (uncompressed) pages + one pyarrow.parquet.write_table
            of the same number of rows (six top-level fields copied straight from the JSON,
            no mapping)
  pipeline: tasks.literature.normalise.normalise_window with the declared crossref source
            (tasks/literature/sources/declared/crossref.yaml): gunzip + sha256 check + parse +
            declared mapping + Table.finalise (types, hash, lineage) + zstd Parquet
  dlt:      ``dlt.pipeline(destination="filesystem")`` on a local folder with
            ``loader_file_format="parquet"``, a resource yielding each page's records,
            dlt's defaults otherwise (nested lists → child tables). dlt is NOT a project
            dependency: it runs in a separate interpreter (``--dlt-python``, default
            /tmp/dltvenv/bin/python; make one with
            ``python3 -m venv /tmp/dltvenv && /tmp/dltvenv/bin/pip install dlt pyarrow orjson``),
            as a subprocess running bench/dlt_load.py over the same JSON pages

Each side runs in its own process (so peak RSS is its own), alternating, best of
``--repeat``. Prints records/s, pipeline/floor (target >= 0.5), pipeline/dlt
(target >= 1) and peak memory.

    python bench/bench_declared.py --records 200000
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timezone
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from child import in_child

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tasks.lake import Lake, gzip_bytes, raw_key  # noqa: E402
from tasks.literature.landing import write_manifest  # noqa: E402
from tasks.literature.normalise import normalise_window  # noqa: E402
from tasks.literature.sources.declared import load_declarations  # noqa: E402
from tests.recorded import cassette  # noqa: E402

CASSETTE = "crossref/crossref_works_cursor.habanero.yaml"
PER_PAGE = 100
DLT_SCRIPT = Path(__file__).resolve().parent / "dlt_load.py"


def crossref():
    return next(s for s in load_declarations() if s.NAME == "crossref")


def generate(out: Path, records: int) -> list[Path]:
    """Pages shaped like the recorded one, each item a real recorded item with its own DOI."""
    (_, body), *_ = cassette(CASSETTE)
    page = orjson.loads(body)
    items = page["message"]["items"]
    paths = []
    for page_no, start in enumerate(range(0, records, PER_PAGE)):
        works = []
        for i in range(start, min(start + PER_PAGE, records)):
            item = copy.copy(items[i % len(items)])
            item["DOI"] = doi = f"{item['DOI']}.b{i}"
            item["URL"] = f"https://doi.org/{doi}"
            works.append(item)
        message = dict(page["message"], items=works, **{"next-cursor": f"bench-{page_no + 1}",
                                                         "total-results": records})
        path = out / f"page-{page_no:05d}.json"
        path.write_bytes(orjson.dumps(dict(page, message=message)))
        paths.append(path)
    return paths


def land(lake: Lake, source, pages: list[Path]):
    from tasks.literature.watermark import Checkpoint

    window = Checkpoint(since=date(2024, 1, 1), until=date(2024, 1, 2), run_id="bench", fetched=True)
    for n, path in enumerate(pages):
        body = path.read_bytes()
        key = raw_key(source.NAME, source.ENTITY, window.since, window.run_id, n, source.FORMAT)
        lake.put(key, gzip_bytes(body))
        window.pages.append({"key": key, "sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body),
                             "records": len(orjson.loads(body)["message"]["items"]), "url": "", "params": {}})
    write_manifest(lake, source, "", window)
    return window


def run_pipeline(lake_dir: str, window, queue) -> None:
    source = crossref()
    lake = Lake(Path(lake_dir).as_uri())
    t0 = time.perf_counter()
    result = normalise_window(source, lake, window, ingested_at=datetime.now(timezone.utc),
                              max_bytes=64 * 1024 * 1024)
    elapsed = time.perf_counter() - t0
    queue.put((elapsed, result.records, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, result.quarantined))


FLOOR_FIELDS = ("DOI", "URL", "type", "publisher", "member", "is-referenced-by-count")


def run_floor(pages: list[str], out: str, queue) -> None:
    t0 = time.perf_counter()
    cols: dict[str, list] = {k: [] for k in FLOOR_FIELDS}
    for path in pages:
        for w in orjson.loads(Path(path).read_bytes())["message"]["items"]:
            for k in FLOOR_FIELDS:
                cols[k].append(w.get(k))
    pq.write_table(pa.table(cols), out, compression="zstd")
    elapsed = time.perf_counter() - t0
    queue.put((elapsed, len(cols["DOI"]), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, 0))


def run_dlt(python: str, pages_dir: Path, work: Path) -> tuple[float, int, int, dict]:
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    proc = subprocess.run(
        [python, str(DLT_SCRIPT), "--pages-dir", str(pages_dir), "--out", str(work / "out"),
         "--work", str(work)],
        capture_output=True, text=True, check=False, cwd=work,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"dlt run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    return info["elapsed"], info["records"], info["rss_kb"], info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--dlt-python", default="/tmp/dltvenv/bin/python",
                        help="interpreter with dlt installed ('' skips the dlt side)")
    args = parser.parse_args()
    use_dlt = bool(args.dlt_python) and Path(args.dlt_python).exists()
    if args.dlt_python and not use_dlt:
        print(f"no interpreter at {args.dlt_python}: the dlt side is skipped")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "pages").mkdir()
        t0 = time.perf_counter()
        source = crossref()
        pages = generate(tmp / "pages", args.records)
        lake = Lake((tmp / "lake").as_uri())
        window = land(lake, source, pages)
        size_mb = sum(p.stat().st_size for p in pages) / 1e6
        print(f"synthetic data: {args.records} Crossref records (from the 20 recorded items), {len(pages)} pages, "
              f"{size_mb:.0f} MB JSON (generated and landed in {time.perf_counter() - t0:.0f}s)")

        best = {"floor": (float("inf"), 0, 0, 0), "pipeline": (float("inf"), 0, 0, 0)}
        if use_dlt:
            best["dlt"] = (float("inf"), 0, 0, {})
        for _ in range(args.repeat):
            best["floor"] = min(best["floor"], in_child(run_floor, [str(p) for p in pages],
                                                        str(tmp / "floor.parquet")), key=lambda r: r[0])
            best["pipeline"] = min(best["pipeline"], in_child(run_pipeline, str(tmp / "lake"), window),
                                   key=lambda r: r[0])
            if use_dlt:
                best["dlt"] = min(best["dlt"], run_dlt(args.dlt_python, tmp / "pages", tmp / "dlt"),
                                  key=lambda r: r[0])

    for name, (elapsed, n, rss_kb, _) in best.items():
        print(f"{name:>8}: {n / elapsed:10,.0f} records/s  ({elapsed:.2f}s, peak RSS {rss_kb / 1024:,.0f} MiB)")
    if best["pipeline"][3]:
        print(f"pipeline quarantined {best['pipeline'][3]} records (written: {best['pipeline'][1]})")
    speed = {name: r[1] / r[0] for name, r in best.items()}
    print(f"ratio pipeline/floor: {speed['pipeline'] / speed['floor']:.2f}  (target >= 0.5)")
    if use_dlt:
        info = best["dlt"][3]
        print(f"dlt {info['dlt_version']} (Python {info['python']}) tables: {info['row_counts']}")
        print(f"ratio pipeline/dlt:   {speed['pipeline'] / speed['dlt']:.2f}  (target >= 1)")


if __name__ == "__main__":
    main()
