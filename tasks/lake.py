"""The lake: one fsspec filesystem behind the key layout of DESIGN.md.

Every write is atomic (temp file + rename on local disks, a single PUT on object
stores) and every key is deterministic, so re-running a window overwrites the
same objects instead of adding new ones.
"""

from __future__ import annotations

import gzip
import uuid
import zlib
from datetime import date
from pathlib import Path

import fsspec
import orjson


class LakeError(ValueError):
    """A lake object is missing, corrupt or larger than allowed."""


def raw_key(source: str, entity: str, ingest_date: date, run_id: str, page: int, fmt: str) -> str:
    """``raw/<source>/<entity>/ingest_date=…/<run_id>-<page:05d>.<fmt>.gz`` (fmt: json or xml)."""
    return f"raw/{source}/{entity}/ingest_date={ingest_date.isoformat()}/{run_id}-{page:05d}.{fmt}.gz"


def manifest_key(source: str, entity: str, ingest_date: date, run_id: str) -> str:
    return f"raw/{source}/{entity}/ingest_date={ingest_date.isoformat()}/{run_id}-manifest.json"


def processed_key(source: str, entity: str, ingest_date: date, run_id: str) -> str:
    return f"processed/{source}/{entity}/ingest_date={ingest_date.isoformat()}/{run_id}.parquet"


def quarantine_key(source: str, entity: str, ingest_date: date, run_id: str) -> str:
    return f"quarantine/{source}/{entity}/ingest_date={ingest_date.isoformat()}/{run_id}.jsonl"


def state_key(source: str, query_slug: str) -> str:
    return f"state/{source}/{query_slug}.json"


def gzip_bytes(data: bytes) -> bytes:
    """Deterministic gzip (mtime 0): the same page always lands as the same bytes."""
    return gzip.compress(data, compresslevel=6, mtime=0)


def gunzip_bounded(data: bytes, max_bytes: int) -> bytes:
    """Decompress, refusing truncated streams and anything that inflates past ``max_bytes``."""
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(data, max_bytes + 1)
    except zlib.error as exc:
        raise LakeError(f"corrupt gzip: {exc}") from exc
    if len(out) > max_bytes:
        raise LakeError(f"decompressed page exceeds {max_bytes} bytes")
    if not inflater.eof:
        raise LakeError("truncated gzip stream")
    return out


class Lake:
    """Keys relative to a root URL (``file:///…``, ``s3://bucket/prefix``, ``gs://…``)."""

    def __init__(self, root_url: str, **storage_options):
        self.url = root_url.rstrip("/")
        self.fs, self.root = fsspec.core.url_to_fs(self.url, **storage_options)
        self._local = "file" in _protocols(self.fs)

    def path(self, key: str) -> str:
        return f"{self.root}/{key}"

    def local_path(self, key: str) -> Path | None:
        """The key's path on this machine's disk, or None on object stores."""
        return Path(self.path(key)) if self._local else None

    def uri(self, key: str) -> str:
        """Full URL of a key, for engines that read the lake themselves (DuckDB, dbt)."""
        return f"{self.url}/{key}"

    def put(self, key: str, data: bytes) -> None:
        path = self.path(key)
        if not self._local:
            self.fs.pipe_file(path, data)  # one PUT: readers see all of it or nothing
            return
        self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        tmp = f"{path}.tmp-{uuid.uuid4().hex}"
        self.fs.pipe_file(tmp, data)
        self.fs.mv(tmp, path)

    def upload(self, key: str, local: Path) -> None:
        """Store a local file under ``key`` without reading it into memory (atomic like ``put``)."""
        path = self.path(key)
        if not self._local:
            self.fs.put_file(str(local), path)
            return
        self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        tmp = f"{path}.tmp-{uuid.uuid4().hex}"
        self.fs.put_file(str(local), tmp)
        self.fs.mv(tmp, path)

    def get(self, key: str, max_bytes: int | None = None) -> bytes:
        path = self.path(key)
        try:
            if max_bytes is not None and self.fs.size(path) > max_bytes:
                raise LakeError(f"{key} is larger than {max_bytes} bytes")
            return self.fs.cat_file(path)
        except FileNotFoundError as exc:
            raise LakeError(f"missing lake object {key}") from exc

    def exists(self, key: str) -> bool:
        return self.fs.exists(self.path(key))

    def delete(self, key: str) -> None:
        if self.exists(key):
            self.fs.rm_file(self.path(key))

    def info(self, key: str) -> dict:
        """The store's metadata of one object (size, ETag, generation, mtime …)."""
        try:
            return self.fs.info(self.path(key))
        except FileNotFoundError as exc:
            raise LakeError(f"missing lake object {key}") from exc

    def move(self, src: str, dst: str) -> None:
        """Rename on local disks; copy then delete on object stores (no partial target)."""
        target = self.path(dst)
        if self._local:
            self.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
        self.fs.mv(self.path(src), target)

    def keys(self, prefix: str) -> list[str]:
        """All keys under a prefix, sorted, relative to the root."""
        base = self.path(prefix).rstrip("/")
        if not self.fs.exists(base):
            return []
        start = len(self.root) + 1
        return sorted(p[start:] for p in self.fs.find(base) if ".tmp-" not in p)

    def put_json(self, key: str, obj) -> None:
        self.put(key, orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))

    def get_json(self, key: str, default=None):
        if not self.exists(key):
            return default
        return orjson.loads(self.get(key, max_bytes=16 * 1024 * 1024))


def _protocols(fs) -> tuple[str, ...]:
    proto = fs.protocol
    return (proto,) if isinstance(proto, str) else tuple(proto)


def lake_from_settings(settings) -> Lake:
    """The lake of the current settings.

    s3: endpoint (MinIO, moto) from AWS_ENDPOINT_URL, credentials from the AWS chain.
    gs: endpoint (an emulator, anonymous) from KI_GCS_ENDPOINT_URL; credentials from the
    prefect-gcp ``GcpCredentials`` block KI_GCP_CREDENTIALS_BLOCK, else Google's default chain.
    """
    options = {}
    if settings.lake_root.startswith("s3://") and settings.aws_endpoint_url:
        options["endpoint_url"] = settings.aws_endpoint_url
    if settings.lake_root.startswith("gs://"):
        if settings.gcs_endpoint_url:
            options |= {"endpoint_url": settings.gcs_endpoint_url, "token": "anon"}
        if settings.gcp_credentials_block:
            options["token"] = gcp_block_credentials(settings.gcp_credentials_block)
    return Lake(settings.lake_root, **options)


def gcp_block_credentials(block_name: str):
    """google.auth credentials of a prefect-gcp GcpCredentials block (never logged)."""
    from prefect_gcp import GcpCredentials

    block = GcpCredentials.load(block_name)
    if block.service_account_info is None and block.service_account_file is None:
        raise LakeError(f"GcpCredentials block {block_name!r} holds no service account")
    return block.get_credentials_from_service_account()
