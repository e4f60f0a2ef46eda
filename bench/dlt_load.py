"""dlt's side of bench_declared.py: load JSON pages' records to Parquet on the local filesystem.

Runs under a SEPARATE interpreter that has dlt installed (dlt is not a dependency of
this project): bench_declared.py calls it as a subprocess and reads one JSON line from
stdout. It does what a dlt user would write for the same pages: a resource yielding
the records of each page (``message.items``), a ``filesystem`` destination on a local
folder, ``loader_file_format="parquet"``, everything else left at dlt's defaults
(nested lists become child tables, as dlt does by default).

    python dlt_load.py --pages-dir DIR --out DIR --work DIR
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages-dir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--records-path", default="message.items")
    args = parser.parse_args()

    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    os.environ.setdefault("DLT_DATA_DIR", str(Path(args.work) / "data"))
    import dlt
    import orjson

    pages = sorted(Path(args.pages_dir).glob("*.json"))
    path = args.records_path.split(".")

    @dlt.resource(name="works", write_disposition="append")
    def works():
        for page in pages:
            doc = orjson.loads(page.read_bytes())
            for part in path:
                doc = doc[part]
            yield doc

    t0 = time.perf_counter()
    pipeline = dlt.pipeline(
        pipeline_name="bench_crossref",
        destination=dlt.destinations.filesystem(bucket_url=Path(args.out).as_uri()),
        dataset_name="crossref",
        pipelines_dir=str(Path(args.work) / "pipelines"),
    )
    info = pipeline.run(works(), loader_file_format="parquet")
    elapsed = time.perf_counter() - t0
    info.raise_on_failed_jobs()
    trace = pipeline.last_trace
    rows = trace.last_normalize_info.row_counts if trace and trace.last_normalize_info else {}
    out_files = [p for p in Path(args.out).rglob("*.parquet")]
    print(json.dumps({
        "elapsed": elapsed,
        "records": rows.get("works", 0),
        "row_counts": {k: v for k, v in rows.items() if not k.startswith("_dlt")},
        "parquet_files": len(out_files),
        "parquet_bytes": sum(p.stat().st_size for p in out_files),
        "rss_kb": max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                      resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss),
        "dlt_version": dlt.__version__,
        "python": sys.version.split()[0],
    }))


if __name__ == "__main__":
    main()
