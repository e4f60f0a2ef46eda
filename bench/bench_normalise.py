"""Normalise + Parquet throughput vs a floor measured in the same run.

Data: SYNTHETIC OpenAlex-shaped list pages (100 works each) generated from the
shape of the real recorded work in tasks/literature/sources/recordings/openalex (ids, titles, DOIs,
authors, abstracts varied per record).

  pipeline: tasks.literature.normalise.normalise_window on pages landed in a local lake
            (gunzip + sha256 check + parse + validate + hash + Parquet, written atomically)
  floor:    json.loads of the same (uncompressed) pages + one pyarrow.parquet.write_table
            of the same number of rows (scalar columns copied straight from the JSON)

Each side runs in its own child process (so peak RSS is its own), alternating,
best of ``--repeat``. Prints records/s, the ratio pipeline/floor (target >= 0.5)
and peak memory.

    python bench/bench_normalise.py --records 200000
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import tempfile
import time
from datetime import date, datetime, timezone
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from child import in_child

from tasks.lake import Lake, gzip_bytes, raw_key
from tasks.literature.landing import write_manifest
from tasks.literature.normalise import normalise_window
from tasks.literature.sources import openalex
from tasks.literature.watermark import Checkpoint

FIXTURE = Path(__file__).resolve().parent.parent / "tasks" / "sources" / "recordings" / "openalex" / "W2741809807.json"
PER_PAGE = 100
WORDS = ("protein folding transformer neural network genome expression cell signal "
         "model data analysis clinical trial outcome quantum lattice spin").split()


def synthetic_work(template: dict, i: int, rng: random.Random) -> dict:
    """An OpenAlex-shaped work: the real record's structure with per-record values."""
    words = [rng.choice(WORDS) for _ in range(120)]
    inverted: dict[str, list[int]] = {}
    for pos, w in enumerate(words):
        inverted.setdefault(w, []).append(pos)
    return {
        "id": f"https://openalex.org/W{9_000_000_000 + i}",
        "doi": f"https://doi.org/10.9999/synthetic.{i}" if i % 3 else None,
        "display_name": " ".join(words[:12]).capitalize(),
        "publication_date": f"20{10 + i % 14:02d}-{1 + i % 12:02d}-{1 + i % 28:02d}",
        "updated_date": "2024-05-01T10:00:00.000000",
        "created_date": "2020-01-01",
        "authorships": [
            {"author": {"id": f"https://openalex.org/A{i * 7 + k}",
                        "display_name": f"Author {i}-{k}",
                        "orcid": f"https://orcid.org/0000-0002-{i % 10000:04d}-{k:04d}" if k % 2 else None}}
            for k in range(1 + i % 6)
        ],
        "primary_location": template.get("primary_location"),
        "topics": template.get("topics", [])[:3],
        "cited_by_count": i % 500,
        "referenced_works": [f"https://openalex.org/W{rng.randrange(10**9)}" for _ in range(15)],
        "abstract_inverted_index": inverted,
    }


def generate(out: Path, records: int) -> list[Path]:
    template = json.loads(FIXTURE.read_bytes())
    rng = random.Random(42)
    paths = []
    for page_no, start in enumerate(range(0, records, PER_PAGE)):
        works = [synthetic_work(template, i, rng) for i in range(start, min(start + PER_PAGE, records))]
        body = orjson.dumps({"meta": {"count": records, "per_page": PER_PAGE}, "results": works})
        path = out / f"page-{page_no:05d}.json"
        path.write_bytes(body)
        paths.append(path)
    return paths


def land(lake: Lake, pages: list[Path]) -> Checkpoint:
    import hashlib

    window = Checkpoint(since=date(2024, 1, 1), until=date(2024, 1, 2), run_id="bench", fetched=True)
    for n, path in enumerate(pages):
        body = path.read_bytes()
        key = raw_key("openalex", "works", window.since, window.run_id, n, "json")
        lake.put(key, gzip_bytes(body))
        window.pages.append({"key": key, "sha256": hashlib.sha256(body).hexdigest(),
                             "bytes": len(body), "records": PER_PAGE, "url": "", "params": {}})
    write_manifest(lake, openalex, "", window)
    return window


def run_pipeline(lake_dir: str, window: Checkpoint, queue) -> None:
    lake = Lake(Path(lake_dir).as_uri())
    t0 = time.perf_counter()
    result = normalise_window(openalex, lake, window, ingested_at=datetime.now(timezone.utc),
                              max_bytes=64 * 1024 * 1024)
    elapsed = time.perf_counter() - t0
    queue.put((elapsed, result.records, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))


def run_floor(pages: list[str], out: str, queue) -> None:
    t0 = time.perf_counter()
    cols: dict[str, list] = {k: [] for k in ("id", "doi", "title", "publication_date", "updated_date", "cited_by_count")}
    for path in pages:
        for w in json.loads(Path(path).read_bytes())["results"]:
            cols["id"].append(w["id"])
            cols["doi"].append(w["doi"])
            cols["title"].append(w["display_name"])
            cols["publication_date"].append(w["publication_date"])
            cols["updated_date"].append(w["updated_date"])
            cols["cited_by_count"].append(w["cited_by_count"])
    pq.write_table(pa.table(cols), out, compression="zstd")
    elapsed = time.perf_counter() - t0
    queue.put((elapsed, len(cols["id"]), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "pages").mkdir()
        t0 = time.perf_counter()
        pages = generate(tmp / "pages", args.records)
        lake = Lake((tmp / "lake").as_uri())
        window = land(lake, pages)
        size_mb = sum(p.stat().st_size for p in pages) / 1e6
        print(f"synthetic data: {args.records} OpenAlex-shaped records, {len(pages)} pages, "
              f"{size_mb:.0f} MB JSON (generated and landed in {time.perf_counter() - t0:.0f}s)")

        best = {"floor": (float("inf"), 0, 0), "pipeline": (float("inf"), 0, 0)}
        for _ in range(args.repeat):
            floor = in_child(run_floor, [str(p) for p in pages], str(tmp / "floor.parquet"))
            pipe = in_child(run_pipeline, str(tmp / "lake"), window)
            best["floor"] = min(best["floor"], floor)
            best["pipeline"] = min(best["pipeline"], pipe)

    for name, (elapsed, n, rss_kb) in best.items():
        print(f"{name:>8}: {n / elapsed:10,.0f} records/s  ({elapsed:.2f}s, peak RSS {rss_kb / 1024:,.0f} MiB)")
    ratio = (best["pipeline"][1] / best["pipeline"][0]) / (best["floor"][1] / best["floor"][0])
    print(f"ratio pipeline/floor: {ratio:.2f}  (target >= 0.5)")


if __name__ == "__main__":
    main()
