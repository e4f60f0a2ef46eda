"""Realistic FIWARE + OPC UA telemetry for demos, tests and benchmarks.

Devices: air-quality stations (NGSI-v2 normalized, with units and a location), weather stations
(NGSI-v2 keyValues), water-quality sensors (NGSI-LD with ``observedAt``) and machines behind OPC UA
publishers (``ua-data`` with DataValue fields; several writers per NetworkMessage as an array,
a single writer as an object). Values follow bounded random walks; each device's clock advances by
``interval`` per message, so (entity, metric, time) never repeats. A share of messages is broken
the way real producers break them (future timestamps relative to the wall clock); each carries the
reason the pipeline must give, and which parts it must dead-letter when it rejects only parts.

    python -m tasks.telemetry.simulator --help
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import orjson

log = logging.getLogger(__name__)

FIWARE_TOPIC = "telemetry.fiware.raw"
OPCUA_TOPIC = "telemetry.opcua.raw"
KINDS = ("air", "weather", "water", "machine")
# (low, high, step) of each device kind's measurements.
WALKS: dict[str, dict[str, tuple[float, float, float]]] = {
    "air": {"NO2": (5, 120, 4), "O3": (10, 180, 5), "PM10": (2, 80, 3), "PM25": (1, 50, 2),
            "CO": (0.1, 3, 0.1), "temperature": (-5, 35, 0.3), "relativeHumidity": (0.2, 1, 0.02)},
    "weather": {"temperature": (-10, 38, 0.3), "relativeHumidity": (0.15, 1, 0.02),
                "atmosphericPressure": (980, 1040, 0.5), "windSpeed": (0, 25, 0.8),
                "windDirection": (0, 359, 10), "precipitation": (0, 12, 0.5)},
    "water": {"temperature": (4, 26, 0.2), "pH": (6.2, 8.6, 0.05), "conductivity": (150, 900, 8),
              "turbidity": (0.1, 12, 0.3)},
    "machine": {"Temperature": (30, 95, 0.8), "Pressure": (1, 8, 0.1), "SpindleSpeed": (0, 12000, 150)},
}
BAD_KINDS = (
    "invalid_json", "missing_entity_id", "missing_timestamp", "bad_timestamp",
    "future_timestamp", "wrong_type", "unknown_shape",
)


@dataclass(frozen=True)
class SimMessage:
    topic: str
    key: bytes
    value: bytes
    error: str | None
    """The dead-letter reason the pipeline must give, None for a good message."""
    error_at: tuple[str, ...] = ()
    """The parts dead-lettered with ``error`` (their ``error_at`` headers); () when the whole message is."""


class _Walk:
    """A bounded random walk: smooth, plausible sensor values."""

    def __init__(self, rng: random.Random, low: float, high: float, step: float):
        self.rng, self.low, self.high, self.step = rng, low, high, step
        self.value = rng.uniform(low, high)

    def next(self, digits: int = 2) -> float:
        self.value = min(self.high, max(self.low, self.value + self.rng.uniform(-self.step, self.step)))
        return round(self.value, digits)


class _Device:
    def __init__(self, kind: str, index: int, rng: random.Random, start: datetime, interval: timedelta):
        self.kind, self.index, self.rng = kind, index, rng
        self.clock, self.interval, self.seq = start, interval, 0
        self.walks = {name: _Walk(rng, *bounds) for name, bounds in WALKS[kind].items()}
        self.part_count = rng.randint(0, 10_000)

    @property
    def entity_id(self) -> str:
        return {
            "air": f"AirQualityObserved-Station-{self.index:03d}",
            "weather": f"WeatherObserved-{self.index:03d}",
            "water": f"urn:ngsi-ld:WaterQualityObserved:wq-{self.index:03d}",
            "machine": f"urn:factory-1:opcua:publisher-{self.index // 12:02d}",  # up to 3 machines each
        }[self.kind]

    def tick(self) -> str:
        self.clock += self.interval
        self.seq += 1
        return self.clock.isoformat().replace("+00:00", "Z")


def _air(d: _Device) -> dict[str, Any]:
    stamp = d.tick()
    units = {"NO2": "GQ", "O3": "GQ", "PM10": "GQ", "PM25": "GQ", "CO": "GP", "temperature": "CEL"}
    entity: dict[str, Any] = {
        "id": d.entity_id, "type": "AirQualityObserved",
        "dateObserved": {"type": "DateTime", "value": stamp},
        "location": {
            "type": "geo:json", "value": {"type": "Point", "coordinates": [-3.7 + d.index / 100, 40.4]},
        },
    }
    for name, walk in d.walks.items():
        attr: dict[str, Any] = {"type": "Number", "value": walk.next()}
        if name in units:
            attr["metadata"] = {"unitCode": {"type": "Text", "value": units[name]}}
        entity[name] = attr
    level = "good" if entity["NO2"]["value"] < 40 else "moderate" if entity["NO2"]["value"] < 90 else "poor"
    entity["airQualityLevel"] = {"type": "Text", "value": level}
    return entity


def _weather(d: _Device) -> dict[str, Any]:
    entity: dict[str, Any] = {"id": d.entity_id, "type": "WeatherObserved", "dateObserved": d.tick()}
    entity.update({name: walk.next(1) for name, walk in d.walks.items()})
    entity["address"] = {"addressLocality": "Madrid", "addressCountry": "ES"}
    return entity


def _water(d: _Device) -> dict[str, Any]:
    stamp = d.tick()
    units = {"temperature": "CEL", "conductivity": "H61", "turbidity": "NTU"}
    entity: dict[str, Any] = {
        "id": d.entity_id, "type": "WaterQualityObserved",
        "@context": ["https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"],
        "refDevice": {"type": "Relationship", "object": f"urn:ngsi-ld:Device:probe-{d.index:03d}"},
    }
    for name, walk in d.walks.items():
        prop: dict[str, Any] = {"type": "Property", "value": walk.next(), "observedAt": stamp}
        if name in units:
            prop["unitCode"] = units[name]
        entity[name] = prop
    return entity


def _dataset(d: _Device) -> dict[str, Any]:
    stamp = d.tick()

    def data_value(type_id: int, body: Any) -> dict[str, Any]:
        return {"Value": {"Type": type_id, "Body": body}, "SourceTimestamp": stamp}

    fields = {name: data_value(11, walk.next(3)) for name, walk in d.walks.items()}  # 11: Double
    d.part_count += d.rng.randint(0, 3)
    fields["PartCount"] = data_value(7, d.part_count)  # UInt32
    fields["State"] = data_value(12, "Running" if fields["SpindleSpeed"]["Value"]["Body"] > 500 else "Idle")
    fields["Alarm"] = data_value(1, d.rng.random() < 0.01)  # Boolean
    return {
        "DataSetWriterId": str(d.index), "SequenceNumber": d.seq,
        "MetaDataVersion": {"MajorVersion": 1, "MinorVersion": 0}, "Payload": fields,
    }


def _network_message(publisher: str, datasets: list[dict[str, Any]], rng: random.Random) -> dict[str, Any]:
    return {
        "MessageId": f"{rng.getrandbits(64):016x}", "MessageType": "ua-data", "PublisherId": publisher,
        "Messages": datasets[0] if len(datasets) == 1 else datasets,
    }


def _break(doc: dict[str, Any], kind: str, rng: random.Random) -> tuple[bytes, tuple[str, ...]]:
    """Turn a good document into a realistic bad message of the given kind; with the paths of the
    parts that become bad, () when the whole message does."""
    if kind == "invalid_json":
        raw = orjson.dumps(doc)
        return raw[: rng.randint(1, len(raw) - 1)], ()  # cut mid-message, as a crashed producer does
    if kind == "unknown_shape":
        shapes = [[orjson.dumps(doc).decode()], {"payload": doc}, {"MessageType": "ua-chunk", "Messages": []}]
        shape = rng.choice(shapes)
        return orjson.dumps(shape), ("[0]",) if isinstance(shape, list) else ()  # a batch of one bad element
    opc = "Messages" in doc
    first = (doc["Messages"] if isinstance(doc["Messages"], dict) else doc["Messages"][0]) if opc else doc
    datasets = len(doc["Messages"]) if opc and isinstance(doc["Messages"], list) else 0
    parts = ("Messages[0]",) if datasets else ()
    if kind == "missing_entity_id":
        doc.pop("PublisherId" if opc else "id")
        parts = tuple(f"Messages[{i}]" for i in range(datasets))  # the header every DataSetMessage uses
    elif kind == "wrong_type":
        if opc:
            next(iter(first["Payload"].values()))["Value"]["Body"] = "n/a"
        elif "NO2" in doc:  # NGSI-v2 normalized: a Number attribute carrying text
            doc["NO2"]["value"] = "n/a"
        else:  # keyValues and NGSI-LD declare no value types: break the id instead
            doc["id"] = rng.randint(1, 10**6)
    else:
        stamp = {"missing_timestamp": None, "bad_timestamp": "yesterday at noon",
                 "future_timestamp": (datetime.now(timezone.utc) + timedelta(days=3)).isoformat()}[kind]
        _set_times(doc, first, opc, stamp)
    return orjson.dumps(doc), parts


def _set_times(doc: dict[str, Any], first: dict[str, Any], opc: bool, stamp: str | None) -> None:
    """Replace (or, with None, remove) every observation time in the document."""
    if opc:
        targets = list(first["Payload"].values())
    else:
        targets = [a for a in doc.values() if isinstance(a, dict) and "observedAt" in a]
    key = "SourceTimestamp" if opc else "observedAt"
    for target in targets:
        if stamp is None:
            target.pop(key)
        else:
            target[key] = stamp
    if not opc and "dateObserved" in doc:
        if stamp is None:
            doc.pop("dateObserved")
        elif isinstance(doc["dateObserved"], dict):
            doc["dateObserved"]["value"] = stamp
        else:
            doc["dateObserved"] = stamp


def generate(
    *,
    devices: int = 20,
    messages: int | None = 1000,
    bad_share: float = 0.0,
    seed: int = 0,
    start: datetime | None = None,
    interval: timedelta = timedelta(seconds=1),
) -> Iterator[SimMessage]:
    """``messages`` messages (None: forever) round-robin over ``devices`` devices of all kinds."""
    rng = random.Random(seed)
    start = start or datetime.now(timezone.utc)
    fleet = [_Device(KINDS[i % len(KINDS)], i, rng, start, interval) for i in range(devices)]
    builders = {"air": _air, "weather": _weather, "water": _water}
    n = 0
    while messages is None or n < messages:
        device = fleet[n % len(fleet)]
        if device.kind == "machine":
            # A publisher sends one NetworkMessage for its writers: this device and, sometimes, a sibling.
            siblings = [d for d in fleet if d.kind == "machine" and d.entity_id == device.entity_id]
            group = [device] + [d for d in siblings if d is not device][: rng.randint(0, 2)]
            doc, topic = _network_message(device.entity_id, [_dataset(d) for d in group], rng), OPCUA_TOPIC
        else:
            doc, topic = builders[device.kind](device), FIWARE_TOPIC
        error = rng.choice(BAD_KINDS) if rng.random() < bad_share else None
        value, error_at = (orjson.dumps(doc), ()) if error is None else _break(doc, error, rng)
        yield SimMessage(topic, device.entity_id.encode(), value, error, error_at)
        n += 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tasks.telemetry.simulator",
        description="Produce realistic FIWARE NGSI (v2, keyValues, LD) and OPC UA PubSub JSON to Kafka.",
    )
    add = parser.add_argument
    add("--bootstrap-servers", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"))
    add("--devices", type=int, default=20, help="number of simulated devices (default 20)")
    add("--rate", type=float, default=50.0, help="messages per second, 0 = as fast as possible (default 50)")
    add("--messages", type=int, default=None, help="stop after this many (default: run until Ctrl-C)")
    add("--bad-share", type=float, default=0.02, help="share of broken messages (default 0.02)")
    add("--seed", type=int, default=None, help="random seed, for reproducible traffic")
    add("--fiware-topic", default=FIWARE_TOPIC)
    add("--opcua-topic", default=OPCUA_TOPIC)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    from confluent_kafka import Producer  # imported late so that --help works without a broker

    producer = Producer({"bootstrap.servers": args.bootstrap_servers, "linger.ms": 20, "acks": "all"})
    topics = {FIWARE_TOPIC: args.fiware_topic, OPCUA_TOPIC: args.opcua_topic}
    # Paced traffic is stamped in real time; an unpaced burst of --messages is stamped to end "now".
    interval = timedelta(seconds=args.devices / args.rate) if args.rate > 0 else timedelta(milliseconds=1)
    start = datetime.now(timezone.utc)
    if args.rate <= 0 and args.messages:
        start -= interval * (args.messages // args.devices + 1)
    seed = args.seed if args.seed is not None else time.time_ns()
    failures: list[str] = []
    sent = bad = 0
    began = time.monotonic()
    try:
        for message in generate(devices=args.devices, messages=args.messages, bad_share=args.bad_share,
                                seed=seed, start=start, interval=interval):
            _produce(producer, topics[message.topic], message, failures)
            sent += 1
            bad += message.error is not None
            if args.rate > 0:
                time.sleep(max(0.0, began + sent / args.rate - time.monotonic()))
            if sent % 10_000 == 0:
                log.info("sent %d messages (%d bad)", sent, bad)
    except KeyboardInterrupt:
        pass
    left = producer.flush(30)
    log.info("sent %d messages (%d bad) in %.1fs; undelivered %d",
             sent, bad, time.monotonic() - began, left + len(failures))
    return 1 if left or failures else 0


def _produce(producer, topic: str, message: SimMessage, failures: list[str]) -> None:
    while True:
        try:
            producer.produce(topic, message.value, message.key,
                             on_delivery=lambda err, _m: err and failures.append(err.str()))
            producer.poll(0)
            return
        except BufferError:  # local queue full: wait for deliveries
            producer.poll(0.2)


if __name__ == "__main__":
    sys.exit(main())
