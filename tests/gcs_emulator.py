"""A local GCS JSON API (gcp-storage-emulator, in memory) for the gs:// lake tests.

Environment: the test process must have ``GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false``
in ``os.environ`` *before gcsfs is first imported* (fsspec imports it lazily on the
first ``gs://`` URL).  ``gcsfs/__init__.py`` reads the variable once, at import, to
decide whether ``gcsfs.GCSFileSystem`` (what fsspec's ``gs`` protocol resolves to) is
the plain class or ``ExtendedGcsFileSystem``; setting it afterwards changes nothing.
The extended class asks the Storage Control gRPC API for each bucket's layout; the
emulator speaks only HTTP, so the probe retries until its deadline and, since a
failed answer is not cached, costs that wait again on every operation.
``disable_hns_probe()`` sets the variable and, if gcsfs was already imported, points
fsspec's ``gs`` at the plain class, so it works whenever it is called.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.servers import BIN, background, free_port

HNS_ENV = {"GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false"}


def disable_hns_probe() -> None:
    """Make ``gs://`` resolve to the plain gcsfs class (see the module docstring)."""
    os.environ.update(HNS_ENV)
    import sys

    if "gcsfs" in sys.modules:  # imported too early: the env var came too late
        import fsspec

        fsspec.register_implementation("gs", "gcsfs.core.GCSFileSystem", clobber=True)


@contextmanager
def gcs_emulator(workdir: Path) -> Iterator[str]:
    """An in-memory GCS API on a free port; yields its endpoint URL (no trailing slash)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [str(BIN / "gcp-storage-emulator"), "start", "--host", "127.0.0.1", "--port", str(port), "--in-memory"]
    with background(cmd, env=dict(os.environ), log=workdir / "gcs.log", health_url=f"{url}/storage/v1/b"):
        yield url


def gcs_storage_options(endpoint: str) -> dict:
    """Storage options for ``fsspec.core.url_to_fs("gs://…", **options)`` against the emulator.

    ``token="anon"`` skips Google credentials; ``project`` is only needed for bucket
    creation/listing; ``skip_instance_cache`` keeps a filesystem from an earlier
    emulator (same options, different data) from being reused.
    """
    return {"endpoint_url": endpoint, "token": "anon", "project": "test", "skip_instance_cache": True}


def make_bucket(endpoint: str, name: str) -> None:
    """Create a bucket through the JSON API (no gcsfs instance, so no listing cache to mind)."""
    response = httpx.post(f"{endpoint}/storage/v1/b", params={"project": "test"}, json={"name": name}, timeout=10)
    response.raise_for_status()
