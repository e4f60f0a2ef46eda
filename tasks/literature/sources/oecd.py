"""OECD SDMX-JSON data messages → one ``indicator_observations`` row per observation (no Prefect import).

An SDMX-JSON 1.0 message (OECD.Stat, https://github.com/sdmx-twg/sdmx-json/tree/master/data-message)
keeps codes apart from values: ``structure.dimensions`` lists each dimension's values, and
a data set's observations are keyed by value positions, ``"0:3:1"``. With
``dimensionAtObservation=AllDimensions`` the key spans every dimension
(``dataSets[].observations``); otherwise ``dataSets[].series`` is keyed by the series
dimensions and each series' ``observations`` by the observation dimension (the period).
An observation whose value is null is rejected with its key, so every observation of the
message is either a row or a quarantine entry.

Hooked into the declared fetch by ``parser: tasks.literature.sources.oecd:observations``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tasks.tables import Rejected, excerpt

# Dimensions that become columns, by SDMX role or concept id; every other dimension is part
# of the indicator (its SDMX key without area and period).
GEO = {"REF_AREA", "LOCATION", "COUNTRY"}
TIME = {"TIME_PERIOD", "TIME"}
UNIT = {"UNIT_MEASURE", "UNIT"}


def observations(record: dict, page: Any) -> Iterator[dict | Rejected]:
    """Rows and rejects of every observation of every data set; the structure is read whole
    before the first row, so a malformed message is rejected as one record."""
    structure = record["structure"]
    flow = _dataflow(record)
    dims = structure["dimensions"]
    series_dims = [_codes(d) for d in dims.get("series") or []]
    obs_dims = [_codes(d) for d in dims.get("observation") or []]
    for dataset in record["dataSets"]:
        if "series" in dataset:
            for skey, series in dataset["series"].items():
                for okey, obs in (series.get("observations") or {}).items():
                    yield _row(flow, series_dims + obs_dims, f"{skey}:{okey}", obs)
        else:
            for okey, obs in (dataset.get("observations") or {}).items():
                yield _row(flow, obs_dims, okey, obs)


def _row(flow: str, dims: list[tuple[str, list[tuple[str, str]]]], key: str, obs: list) -> dict | Rejected:
    try:
        positions = [int(p) for p in key.split(":")]
        if len(positions) != len(dims):
            raise ValueError(f"{len(positions)} positions for {len(dims)} dimensions")
        cell = {dim: values[p] for (dim, values), p in zip(dims, positions)}
    except (ValueError, IndexError) as exc:
        return Rejected(reason=f"observation key {key!r} does not fit the structure: {exc}", excerpt=excerpt(obs))
    source_id = f"{flow}:{'.'.join(code for code, _ in cell.values())}"
    value = obs[0] if isinstance(obs, list) and obs else None
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        what = "no value" if value is None else f"a non-numeric value {value!r:.40}"
        return Rejected(reason=f"observation {source_id} has {what}", source_id=source_id, excerpt=excerpt(obs))
    geo, time, unit = (next((cell[d] for d in cell if _kind(d) == k), None) for k in ("geo", "time", "unit"))
    rest = [cell[d] for d in cell if _kind(d) is None]
    return {
        "source_id": source_id,
        "indicator": ".".join([flow] + [code for code, _ in rest]),
        "indicator_name": "; ".join(name for _, name in rest) or None,
        "geography": geo[0] if geo else None,
        "geography_name": geo[1] if geo else None,
        "period": time[0] if time else None,
        "value": float(value),
        "unit": unit[1] if unit else None,
        "updated_at": None,  # header.prepared is when the message was built, not when data changed
    }


def _kind(dim: str) -> str | None:
    role, _, concept = dim.partition("|")
    for kind, names in (("geo", GEO), ("time", TIME), ("unit", UNIT)):
        if role in names or concept in names:
            return kind
    return None


def _codes(dim: dict) -> tuple[str, list[tuple[str, str]]]:
    """``"<role>|<id>"`` of a dimension and its (code, name) values in position order."""
    values = [(str(v["id"]), v.get("name") or str(v["id"])) for v in dim["values"]]
    return f"{dim.get('role') or ''}|{dim['id']}", values


def _dataflow(record: dict) -> str:
    """The dataflow id: OECD.Stat links the structure to ``…/dataflow/<id>/<agency>`` and the
    header to the request ``…/data/<id>/<filter>/<agency>``."""
    links = [(link.get("rel"), link.get("href") or "") for link in
             (record["structure"].get("links") or []) + ((record.get("header") or {}).get("links") or [])]
    for rel, marker in (("dataflow", "/dataflow/"), ("request", "/data/")):
        for r, href in links:
            if r == rel and marker in href.lower():
                return href[href.lower().index(marker) + len(marker):].split("/")[0]
    raise ValueError("no dataflow or request link names the dataflow")
