"""Run elt-ingest in its own process and SIGKILL it after the staging load, before publish:
a real crash (no exception, no cleanup), at the step where a half-done file hurts most."""

import os
import signal

import tasks.elt.warehouse
from flows.elt_ingest import elt_ingest


def killed_before_publish(*_args, **_kwargs):
    os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    tasks.elt.warehouse.publish = killed_before_publish
    elt_ingest()
