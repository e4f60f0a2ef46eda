"""The telemetry consumer core in its own process, for the crash test: after its Nth batch is
committed to the database and before that batch's offsets are committed, it SIGKILLs itself.

    python consumer_child.py '<IngestConfig fields as JSON, plus "kill_after_batches">'

Prints one JSON line of running totals per batch (written before the kill).
"""

import json
import logging
import os
import signal
import sys

from tasks.telemetry.consumer import IngestConfig, IngestStats, ingest


def main() -> None:
    params = json.loads(sys.argv[1])
    kill_after = params.pop("kill_after_batches")

    def before_commit(stats: IngestStats) -> None:
        totals = {"batches": stats.batches, "consumed": stats.consumed, "written": stats.written}
        print(json.dumps(totals), flush=True)
        if stats.batches >= kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    ingest(IngestConfig(**params), logger=logging.getLogger("consumer-child"), before_commit=before_commit)


if __name__ == "__main__":
    main()
