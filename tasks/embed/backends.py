"""Where vectors are computed: in this process, or on a pool of Ray actors.

Both backends run the same ``encode_texts`` on the same length-sorted batches, so they
give the same vectors (up to float rounding across thread counts). Batches are sorted
by text length so each one pads to a similar length instead of to its longest outlier.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import TYPE_CHECKING, Protocol, Sequence

import numpy as np

from tasks.embed.model import ModelInfo, load_model, resolve_model, verify_model

if TYPE_CHECKING:
    from tasks.settings import Settings

log = logging.getLogger(__name__)

# A word-piece token is rarely longer than this many characters: cutting the text here
# keeps whole abstracts' tokenisation cheap and never shortens what the model sees; the
# exact cut to ``max_seq_length`` tokens is made by the model's own tokenizer.
_CHARS_PER_TOKEN_BOUND = 12


def document_text(title: str | None, abstract: str | None, max_seq_length: int) -> str:
    """Title and abstract with whitespace collapsed, bounded to what the model can read."""
    parts = [" ".join(p.split()) for p in (title, abstract) if p and p.strip()]
    return "\n".join(parts)[: max_seq_length * _CHARS_PER_TOKEN_BOUND]


def length_sorted_batches(texts: Sequence[str], batch_size: int) -> list[list[int]]:
    """Indices of ``texts`` grouped into batches of similar length, longest first."""
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def encode_texts(model, texts: Sequence[str]) -> np.ndarray:
    """One batch → float32 unit vectors (normalised in fp32 even when the model runs in half)."""
    import torch

    with torch.inference_mode():
        emb = model.encode(list(texts), batch_size=len(texts), convert_to_tensor=True,
                           show_progress_bar=False)
        emb = torch.nn.functional.normalize(emb.float(), p=2, dim=-1)
    return emb.cpu().numpy()


class EmbeddingBackend(Protocol):
    model: ModelInfo

    def encode_batches(self, batches: list[list[str]]) -> list[np.ndarray]: ...

    def close(self) -> None: ...


def embed_texts(backend: EmbeddingBackend, texts: Sequence[str], batch_size: int) -> np.ndarray:
    """Embed ``texts`` in length-sorted batches and return the vectors in input order."""
    dim = backend.model.dimension
    out = np.empty((len(texts), dim), dtype=np.float32)
    if not texts:
        return out
    batches = length_sorted_batches(texts, batch_size)
    results = backend.encode_batches([[texts[i] for i in batch] for batch in batches])
    for batch, vectors in zip(batches, results, strict=True):
        out[batch] = vectors
    return out


class LocalBackend:
    """The model in this process: CUDA when present, else CPU."""

    def __init__(self, info: ModelInfo, device: str | None = None):
        self._model, self.model = load_model(info, device)

    def encode_batches(self, batches: list[list[str]]) -> list[np.ndarray]:
        return [encode_texts(self._model, batch) for batch in batches]

    def encode_query(self, text: str) -> np.ndarray:
        return encode_texts(self._model, [text])[0]

    def close(self) -> None:
        self._model = None


class _EmbedActor:
    """One model replica on a Ray worker; checks it holds the same weights as the driver."""

    def __init__(self, info: ModelInfo):
        self._model, self.info = load_model(verify_model(info))

    def describe(self) -> ModelInfo:
        return self.info

    def encode(self, texts: list[str]) -> np.ndarray:
        return encode_texts(self._model, texts)


class RayBackend:
    """An actor pool: one actor per GPU (``num_gpus=1``), or CPU actors when there is no GPU.

    ``use_gpus=None`` decides from the GPUs the cluster has now; ``True`` asks for GPU
    actors even when it has none yet, so an autoscaler starts GPU workers from zero.
    """

    def __init__(self, info: ModelInfo, *, address: str | None = None, num_actors: int = 0,
                 use_gpus: bool | None = None):
        import ray
        from ray.util import ActorPool

        if not ray.is_initialized():
            ray.init(address=address or None, ignore_reinit_error=True)
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        if use_gpus if use_gpus is not None else gpus > 0:
            options, count = {"num_gpus": 1}, num_actors or max(1, gpus)
        else:
            options, count = {"num_cpus": 1}, num_actors or max(1, int(resources.get("CPU", 1)))
        actor = ray.remote(_EmbedActor).options(**options)
        self._ray = ray
        self._actors = [actor.remote(info) for _ in range(count)]
        self._pool = ActorPool(self._actors)
        self.model = ray.get(self._actors[0].describe.remote())
        log.info("ray embedding pool: %d actor(s) with %s", count, options)

    def encode_batches(self, batches: list[list[str]]) -> list[np.ndarray]:
        return list(self._pool.map(lambda a, batch: a.encode.remote(batch), batches))

    def close(self) -> None:
        for actor in self._actors:
            self._ray.kill(actor)
        self._actors = []


# ray: GPU actors if the cluster has GPUs now, else CPU actors; ray-gpu / ray-cpu: forced
_RAY_GPUS = {"ray": None, "ray-gpu": True, "ray-cpu": False}
BACKENDS = ("auto", "local", *_RAY_GPUS)


def choose_backend(kind: str, ray_address: str | None) -> str:
    """``auto`` means Ray when a cluster address is configured, else in-process."""
    if kind not in BACKENDS:
        raise ValueError(f"embed backend must be one of {BACKENDS}, not {kind!r}")
    if kind == "auto":
        return "ray" if ray_address else "local"
    return kind


def make_backend(kind: str, info: ModelInfo, *, ray_address: str | None = None,
                 ray_actors: int = 0) -> EmbeddingBackend:
    kind = choose_backend(kind, ray_address)
    if kind in _RAY_GPUS:
        return RayBackend(info, address=ray_address, num_actors=ray_actors, use_gpus=_RAY_GPUS[kind])
    return LocalBackend(info)


def process_backend(settings: Settings) -> EmbeddingBackend:
    """The configured model and backend, built once per process and shared by its callers
    (each file of an ELT run); flows that own their backend use ``make_backend``."""
    return _process_backend(settings.embed_model, settings.embed_offline_model, settings.embed_allow_fallback,
                            settings.embed_backend, settings.ray_address, settings.embed_ray_actors)


@cache
def _process_backend(model: str, offline_model: str, allow_fallback: bool, kind: str,
                     ray_address: str | None, ray_actors: int) -> EmbeddingBackend:
    info = resolve_model(model, offline_model, allow_fallback=allow_fallback)
    return make_backend(kind, info, ray_address=ray_address, ray_actors=ray_actors)
