"""Object-created notifications → the lake keys they name.

Accepted bodies (what real stores send, as the relay received them):

* an S3 event notification (``{"Records": [{"s3": …}]}``), also wrapped in an SNS
  message or an SQS message/batch (``Message``/``body`` holding the JSON as a string);
  S3 URL-encodes object keys there (``+`` for a space), so keys are unquoted;
* an EventBridge "Object Created" event (``detail.bucket.name``/``detail.object.key``);
* a GCS Pub/Sub notification, push (``{"message": {"attributes": …, "data": …}}``) or
  pulled (``attributes``/``data`` at the top), and a bare GCS object resource;
* a list of any of these.

Objects outside the configured lake, and events other than object creation, are
returned as ignored with the reason, never silently dropped.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import unquote_plus, urlparse

import httpx
import orjson

OBJECT_CREATED_EVENT = "elt.object.created"
"""The Prefect event a relay posts to /api/events, with the store's notification body as payload."""

GCS_CREATED = {"OBJECT_FINALIZE"}


@dataclass
class Notified:
    keys: list[str] = field(default_factory=list)
    ignored: list[dict] = field(default_factory=list)


def objects(body) -> list[tuple[str, str, str, str]]:
    """(scheme, bucket, object key, event name) of every object a notification body names."""
    if isinstance(body, (str, bytes)):
        body = orjson.loads(body)
    if isinstance(body, list):
        return [o for item in body for o in objects(item)]
    if not isinstance(body, dict):
        raise ValueError(f"not a notification: {type(body).__name__}")
    if "Records" in body:
        found = []
        for record in body["Records"]:
            if "s3" in record:
                found.append(("s3", record["s3"]["bucket"]["name"],
                              unquote_plus(record["s3"]["object"]["key"]), record.get("eventName", "")))
            else:  # SNS or SQS envelope around an S3 notification
                inner = record.get("Sns", {}).get("Message") or record.get("body")
                if inner is None:
                    raise ValueError("a Records entry holds neither s3 nor an SNS/SQS message")
                found += objects(inner)
        return found
    if body.get("Type") == "Notification" and "Message" in body:  # SNS over HTTP
        return objects(body["Message"])
    if body.get("Event") == "s3:TestEvent":
        return []
    if body.get("source") == "aws.s3" and "detail" in body:
        detail = body["detail"]
        return [("s3", detail["bucket"]["name"], detail["object"]["key"], body.get("detail-type", ""))]
    message = body.get("message", body)
    if "attributes" in message and "objectId" in message["attributes"]:
        attrs = message["attributes"]
        return [("gs", attrs["bucketId"], attrs["objectId"], attrs.get("eventType", ""))]
    if "data" in message:  # Pub/Sub without attributes: the object resource is the data
        return objects(base64.b64decode(message["data"]))
    if body.get("kind") == "storage#object":
        return [("gs", body["bucket"], body["name"], "OBJECT_FINALIZE")]
    raise ValueError(f"unrecognised notification (fields: {sorted(body)[:10]})")


def _created(scheme: str, event: str) -> bool:
    if scheme == "gs":
        return event in GCS_CREATED
    return event == "" or event.startswith("ObjectCreated") or event == "Object Created"


def lake_keys(body, lake_url: str) -> Notified:
    """The lake-relative keys of the created objects inside ``lake_url``."""
    lake = urlparse(lake_url)
    prefix = lake.path.strip("/")
    notified = Notified()
    for scheme, bucket, key, event in objects(body):
        where = f"{scheme}://{bucket}/{key}"
        if not _created(scheme, event):
            notified.ignored.append({"object": where, "reason": f"not an object creation: {event}"})
        elif scheme != lake.scheme or bucket != lake.netloc or not key.startswith(f"{prefix}/" if prefix else ""):
            notified.ignored.append({"object": where, "reason": f"outside the lake {lake_url}"})
        else:
            notified.keys.append(key[len(prefix) + 1:] if prefix else key)
    return notified


MAX_NOTIFICATION_BYTES = 1024 * 1024


def post_notification(api_url: str, body: bytes, timeout_s: float = 30.0) -> list[uuid.UUID]:
    """Post a store's notification body to ``<api>/events`` as OBJECT_CREATED_EVENT (the relay).

    A JSON array becomes one event per element (an event's payload is an object).
    """
    if len(body) > MAX_NOTIFICATION_BYTES:
        raise ValueError(f"notification larger than {MAX_NOTIFICATION_BYTES} bytes")
    parsed = orjson.loads(body)
    events = []
    for payload in parsed if isinstance(parsed, list) else [parsed]:
        named = objects(payload)  # refuse what the flow could not read before it becomes a run
        first = f"{named[0][0]}://{named[0][1]}/{named[0][2]}" if named else "none"
        events.append({"id": str(uuid.uuid4()), "occurred": datetime.now(timezone.utc).isoformat(),
                       "event": OBJECT_CREATED_EVENT, "resource": {"prefect.resource.id": f"ki.object.{first}"},
                       "payload": payload})
    response = httpx.post(f"{api_url.rstrip('/')}/events", json=events, timeout=timeout_s)
    response.raise_for_status()
    return [uuid.UUID(e["id"]) for e in events]
