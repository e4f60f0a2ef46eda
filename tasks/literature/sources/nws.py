"""api.weather.gov station observations → weather_observations rows (no Prefect import).

One observation (a GeoJSON feature) carries every element the station reports
(temperature, windSpeed, barometricPressure …), each as ``{value, unitCode,
qualityControl}``; the table holds one measured value per row, which a column mapping
cannot say. Fetching and paging stay declared (declared/nws.yaml): this is its ``parser``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from tasks.tables import Rejected, excerpt

NOT_ELEMENTS = frozenset({"elevation"})
"""Quantities of an observation that describe the station, not the weather."""


def observation_rows(record: dict, page: Any) -> Iterator[dict | Rejected]:
    """One row per element with a value; the observation is rejected if none has one.

    An element is any property shaped ``{value, unitCode}``, so an element NWS adds later is kept too.
    The API sends every element on every observation, ``value: null`` where the station
    did not measure it: that is no measurement, not a row.
    """
    props = record["properties"]
    station = props["station"].rstrip("/").rpartition("/")[2]
    observed_at = datetime.fromisoformat(props["timestamp"].replace("Z", "+00:00")).astimezone(timezone.utc)
    valued = 0
    for element, quantity in props.items():
        if element in NOT_ELEMENTS or not (isinstance(quantity, dict) and "unitCode" in quantity):
            continue
        value = quantity.get("value")
        if value is None:
            continue
        valued += 1
        sid = f"{station}:{observed_at.isoformat()}:{element}"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            yield Rejected(reason=f"{element}: value must be a number, got {type(value).__name__}",
                           source_id=sid, excerpt=excerpt(quantity))
            continue
        unit = quantity["unitCode"]
        yield {
            "source_id": sid,
            "station": station,
            "observed_at": observed_at,
            "element": element,
            "value": float(value),
            # "wmoUnit:degC" (older answers "unit:degC") → "degC".
            "unit": unit.rpartition(":")[2] if isinstance(unit, str) else None,
        }
    if not valued:
        yield Rejected(reason="observation has no measured value (every element is null)",
                       source_id=f"{station}:{observed_at.isoformat()}", excerpt=excerpt(props))
