"""Which embedding model a run uses, and proof of it.

The configured model (SciBERT in production) is loaded from the hub or the local hub
cache. When that is impossible (no network, ``HF_HUB_OFFLINE`` set and nothing cached)
the configured offline model is used instead, with a warning and the reason recorded,
so a vector is never attributed to a model that did not produce it. The identity of a
model is its name plus a digest of its weight files: the same name with other weights
is another model, and every cache entry and vector row carries that identity.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path

log = logging.getLogger(__name__)

# Weight formats other frameworks ship in the same hub repo; sentence-transformers never reads them.
_IGNORE_ON_DOWNLOAD = ["*.msgpack", "*.h5", "*.ot", "*.onnx", "onnx/*", "openvino/*", "*.tflite"]


class ModelUnavailable(RuntimeError):
    """Neither the configured model nor an allowed fallback can be loaded."""


@dataclass(frozen=True)
class ModelInfo:
    """A resolved model: where its files are and what identifies the vectors it makes."""

    name: str
    """The configured identifier that was actually loaded (hub id, path or package)."""
    path: str
    """Local directory holding the model files."""
    revision: str
    """sha256 over the model's weight files (see ``weights_digest``)."""
    requested: str
    """What the run asked for; differs from ``name`` only after a fallback."""
    fallback_reason: str | None = None
    dimension: int | None = None
    max_seq_length: int | None = None

    @property
    def model_id(self) -> str:
        """Cache and vector key: changes whenever the name or the weights change."""
        return f"{self.name}@{self.revision[:16]}"

    def as_dict(self) -> dict:
        return {
            "model_id": self.model_id,
            "name": self.name,
            "revision": self.revision,
            "requested": self.requested,
            "fallback_reason": self.fallback_reason,
            "dimension": self.dimension,
            "max_seq_length": self.max_seq_length,
        }


def weights_digest(model_dir: str | Path) -> str:
    """sha256 over every weight file (safetensors, else .bin) under ``model_dir``, in path order."""
    root = Path(model_dir)
    files = sorted(root.rglob("*.safetensors")) or sorted(root.rglob("*.bin"))
    if not files:
        raise ModelUnavailable(f"no weight files (*.safetensors, *.bin) under {root}")
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.relative_to(root).as_posix().encode())
        with file.open("rb") as fh:
            while chunk := fh.read(8 * 1024 * 1024):
                digest.update(chunk)
    return digest.hexdigest()


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def locate_model(spec: str) -> Path:
    """Local directory of ``spec``: an existing directory, a package with ``get_model_path()``,
    or a hub id (downloaded, or taken from the local hub cache when offline)."""
    path = Path(spec).expanduser()
    if path.is_dir():
        return path.resolve()
    if spec.isidentifier():
        try:
            getter = getattr(importlib.import_module(spec), "get_model_path", None)
        except ImportError:
            getter = None
        if getter is not None:
            return Path(getter()).resolve()
    from huggingface_hub import snapshot_download

    try:
        return Path(
            snapshot_download(spec, local_files_only=hub_offline(), ignore_patterns=_IGNORE_ON_DOWNLOAD)
        )
    except Exception as exc:  # network, auth, missing repo: all mean "not loadable here"
        raise ModelUnavailable(f"{spec!r} is not in the local hub cache and the hub is unreachable "
                               f"({type(exc).__name__}: {exc})") from exc


def resolve_model(requested: str, offline_model: str | None, *, allow_fallback: bool = True) -> ModelInfo:
    """Find the model to use and identify it; falls back loudly, never silently."""
    try:
        path = locate_model(requested)
        return ModelInfo(name=requested, path=str(path), revision=weights_digest(path), requested=requested)
    except ModelUnavailable as exc:
        if not allow_fallback or not offline_model or offline_model == requested:
            raise
        reason = str(exc)
    log.warning("embedding model %s unavailable, using offline model %s instead: %s",
                requested, offline_model, reason)
    path = locate_model(offline_model)
    return ModelInfo(name=offline_model, path=str(path), revision=weights_digest(path),
                     requested=requested, fallback_reason=reason)


def pick_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_model(info: ModelInfo, device: str | None = None):
    """Load the resolved model; on CUDA in bf16 (fp16 where bf16 is unsupported).

    Returns ``(SentenceTransformer, ModelInfo)`` with the dimension and max length filled in.
    """
    import torch
    from sentence_transformers import SentenceTransformer

    device = device or pick_device()
    model = SentenceTransformer(info.path, device=device, local_files_only=True)
    if device.startswith("cuda"):
        model = model.to(dtype=torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
    model.eval()
    return model, replace(
        info, dimension=model.get_embedding_dimension(), max_seq_length=model.max_seq_length
    )


def verify_model(info: ModelInfo) -> ModelInfo:
    """Re-locate ``info`` on this machine (a Ray worker) and check the weights are the same."""
    local = info
    if not Path(info.path).is_dir():
        local = replace(info, path=str(locate_model(info.name)))
    found = weights_digest(local.path)
    if found != info.revision:
        raise ModelUnavailable(f"{info.name} on this worker has weights {found[:16]}, "
                               f"the run uses {info.revision[:16]}")
    return local
