"""Eurostat JSON-stat datasets → one ``indicator_observations`` row per cube cell (no Prefect import).

A dataset is a dense cube: ``value`` holds one cell per combination of the dimensions'
categories, in row-major order of ``id``/``size`` (https://json-stat.org/full/#value), as
an array or, when sparse, an object of cell index → value. Both JSON-stat 2.0 (the
dissemination API: ``class: dataset``, ``id``/``size`` at the top) and Eurostat's legacy
form (wsVersion 1.1: the dataset under its code, ``id``/``size`` inside ``dimension``) are
read. A cell without a value (null, or absent from a sparse ``value``) is an observation
Eurostat does not have; it is rejected with its status ("not available"), so every cell of
the cube is either a row or a quarantine entry.

Hooked into the declared fetch by ``parser: tasks.literature.sources.eurostat:cells``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from itertools import product
from math import prod
from typing import Any

from tasks.tables import Rejected, excerpt

# Dimensions that become columns; every other dimension (na_item, indic_na, freq …) is part
# of the indicator. JSON-stat 2.0 ``role`` names geo and time where the dataset gives it.
GEO, TIME, UNIT = "geo", "time", "unit"


def cells(record: dict, page: Any) -> Iterator[dict | Rejected]:
    """Rows and rejects of every cell; the cube is checked whole before the first row, so a
    malformed dataset is rejected as one record, never half-expanded."""
    code, ds = _dataset(record)
    dims = ds["dimension"]
    ids, sizes = ds.get("id") or dims["id"], ds.get("size") or dims["size"]
    if len(ids) != len(sizes):
        raise ValueError(f"{len(ids)} dimension ids but {len(sizes)} sizes")
    role = ds.get("role") or dims.get("role") or {}
    geo, time = (role.get(r, [default])[0] for r, default in (("geo", GEO), ("time", TIME)))
    categories = [_categories(dims[d], n, d) for d, n in zip(ids, sizes)]
    values, n_cells = ds["value"], prod(sizes)
    if isinstance(values, list) and len(values) != n_cells:
        raise ValueError(f"value holds {len(values)} cells, the dimensions {n_cells}")
    status, status_labels = ds.get("status"), _status_labels(ds)
    title = ds.get("label") or ds.get("title")
    updated = _updated(ds)
    for index, combo in enumerate(product(*categories)):
        cell = dict(zip(ids, combo))
        source_id = f"{code}:{'.'.join(c for c, _ in combo)}"
        value = values.get(str(index)) if isinstance(values, dict) else values[index]
        if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
            flag = _at(status, index)
            why = f" (status {flag!r}: {status_labels.get(flag, 'unlabelled')})" if flag else ""
            what = "no value" if value is None else f"a non-numeric value {value!r:.40}"
            yield Rejected(reason=f"cube cell {source_id} has {what}{why}", source_id=source_id,
                           excerpt=excerpt(cell))
            continue
        rest = [(d, c) for d, c in cell.items() if d not in (geo, time, UNIT)]
        yield {
            "source_id": source_id,
            "indicator": ".".join([code] + [c for _, (c, _) in rest]),
            "indicator_name": "; ".join(([title] if title else []) + [label for _, (_, label) in rest]),
            "geography": cell[geo][0] if geo in cell else None,
            "geography_name": cell[geo][1] if geo in cell else None,
            "period": cell[time][0] if time in cell else None,
            "value": float(value),
            "unit": cell[UNIT][1] if UNIT in cell else None,
            "updated_at": updated,
        }


def _dataset(record: dict) -> tuple[str, dict]:
    """(dataset code, dataset) of a JSON-stat 2.0 dataset or a legacy ``{code: dataset}`` page."""
    if record.get("class") == "dataset":
        code = (record.get("extension") or {}).get("id")
        if not code:
            raise ValueError("JSON-stat dataset without extension.id (the Eurostat dataset code)")
        return str(code).lower(), record
    if len(record) != 1:
        raise ValueError(f"not a JSON-stat dataset: keys {sorted(record)[:5]}")
    [(code, ds)] = record.items()
    return code.lower(), ds


def _categories(dim: dict, size: int, name: str) -> list[tuple[str, str]]:
    """(code, label) of a dimension's categories in cube order."""
    cat = dim["category"]
    labels = cat.get("label") or {}
    index = cat.get("index", list(labels))
    codes = sorted(index, key=index.get) if isinstance(index, dict) else list(index)
    if len(codes) != size:
        raise ValueError(f"dimension {name!r} has {len(codes)} categories, size says {size}")
    return [(c, labels.get(c, c)) for c in codes]


def _at(status: Any, index: int) -> str | None:
    """A cell's status flag: JSON-stat 2.0 allows one string, an array or an index object; the
    legacy form wraps the array as ``{"value": [...]}``."""
    if isinstance(status, str):
        return status
    if isinstance(status, dict):
        if isinstance(status.get("value"), list):
            return _at(status["value"], index)
        return status.get(str(index))
    if isinstance(status, list) and index < len(status):
        return status[index]
    return None


def _status_labels(ds: dict) -> dict:
    legacy = ds.get("status")
    if isinstance(legacy, dict) and "category" in legacy:
        return legacy["category"].get("label") or {}
    return ((ds.get("extension") or {}).get("status") or {}).get("label") or {}


def _updated(ds: dict) -> datetime | None:
    """JSON-stat 2.0 ``updated`` (ISO 8601) or the legacy ``lastUpdateDate`` (epoch milliseconds)."""
    if isinstance(ds.get("updated"), str):
        ts = datetime.fromisoformat(ds["updated"].replace("Z", "+00:00"))
        return ts.replace(tzinfo=timezone.utc) if ts.tzinfo is None else ts.astimezone(timezone.utc)
    if isinstance(ds.get("lastUpdateDate"), int):
        return datetime.fromtimestamp(ds["lastUpdateDate"] / 1000, timezone.utc)
    return None
