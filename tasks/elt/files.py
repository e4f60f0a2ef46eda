"""Landed files: finding them, fetching them to local disk, and moving them on.

Lake keys (DESIGN.md): ``landing/<dataset>/…`` in, then
``processed/<dataset>/parquet/<file_id>.parquet`` (cleaned rows),
``quarantine/<dataset>/<file_id>.jsonl`` (rejected rows with file, line and reason),
``processed/<dataset>/files/<file_id>-<name>`` + ``.manifest.json`` (the source file,
done) or ``failed/<dataset>/<file_id>-<name>`` + ``.reason.json`` (unreadable).
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from dataclasses import dataclass
from pathlib import Path

from tasks.lake import Lake

LANDING = "landing"
COPY_CHUNK = 4 * 1024 * 1024


class TooLarge(ValueError):
    pass


@dataclass(frozen=True)
class LandedFile:
    dataset: str
    key: str
    size: int
    version: str
    """ETag (S3), generation (GCS) or mtime (local disk): a new upload is a new file."""

    @property
    def file_id(self) -> str:
        identity = f"{self.key}\n{self.size}\n{self.version}".encode()
        return hashlib.sha256(identity).hexdigest()[:24]

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]

    @property
    def parquet_key(self) -> str:
        return f"processed/{self.dataset}/parquet/{self.file_id}.parquet"

    @property
    def quarantine_key(self) -> str:
        return f"quarantine/{self.dataset}/{self.file_id}.jsonl"

    @property
    def done_key(self) -> str:
        return f"processed/{self.dataset}/files/{self.file_id}-{self.name}"

    @property
    def failed_key(self) -> str:
        return f"failed/{self.dataset}/{self.file_id}-{self.name}"


def version_of(info: dict) -> str:
    for field in ("ETag", "etag", "generation", "md5Hash", "mtime", "LastModified", "updated"):
        if info.get(field) not in (None, ""):
            return str(info[field]).strip('"')
    raise ValueError(f"the store gives no version for {info.get('name')}: cannot identify the upload")


def dataset_of(key: str) -> str | None:
    """``landing/<dataset>/<…>/<name>`` → dataset; None for keys outside landing or hidden names."""
    parts = key.split("/")
    if len(parts) < 3 or parts[0] != LANDING:
        return None
    if any(p.startswith((".", "_")) or ".tmp-" in p for p in parts[1:]):
        return None
    return parts[1]


def describe(lake: Lake, key: str) -> LandedFile:
    info = lake.info(key)
    return LandedFile(dataset_of(key) or "", key, int(info["size"]), version_of(info))


def waiting(lake: Lake, datasets: list[str]) -> list[LandedFile]:
    """Every file under ``landing/<dataset>/`` of the given datasets, oldest key first."""
    found = []
    for dataset in datasets:
        found += [describe(lake, key) for key in lake.keys(f"{LANDING}/{dataset}")
                  if dataset_of(key) == dataset]
    return found


def fetch(lake: Lake, landed: LandedFile, dest: Path, max_bytes: int) -> Path:
    """A local path holding the file's plain bytes (gunzipped when named ``*.gz``), bounded in size.

    A truncated or corrupt gzip stream raises ``gzip.BadGzipFile``/``EOFError``/``zlib.error``.
    """
    gz = landed.name.endswith(".gz")
    in_place = lake.local_path(landed.key)
    if in_place is not None and not gz:
        if landed.size > max_bytes:
            raise TooLarge(f"larger than {max_bytes} bytes")
        return in_place  # read where it lies: no copy on a local lake
    target = dest / (landed.name[:-3] if gz else landed.name)
    with lake.fs.open(lake.path(landed.key), "rb") as raw, target.open("wb") as out:
        source = gzip.GzipFile(fileobj=raw) if gz else raw
        written = 0
        while chunk := source.read(COPY_CHUNK):
            written += len(chunk)
            if written > max_bytes:
                raise TooLarge(f"larger than {max_bytes} bytes{' after gunzip' if gz else ''}")
            out.write(chunk)
    return target


UNREADABLE_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error, TooLarge)
