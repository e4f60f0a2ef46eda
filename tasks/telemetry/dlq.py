"""Dead-letter producer: a rejected message, or a rejected part of one, goes to the DLQ topic with
its reason and origin.

Headers: ``error_code`` (stable reason), ``error`` (what was wrong and where), ``original_topic``,
``original_partition``, ``original_offset``, ``original_timestamp`` (ms, when the broker has one)
and ``dead_lettered_at`` (ISO 8601 UTC). A rejected part also has ``error_at``: its path in the
message (``data[2]``, ``[1].Messages[0]``, see ``tasks.telemetry.normalise``); without it, the
whole message was rejected. Each bad part is a record of its own, so a message with two bad
entities gives two records (same value, each with its ``error_at``): each can be counted, fixed and
replayed on its own, and replaying a fixed whole message re-writes nothing of the parts that were
already written (the sink skips duplicates). The value and key are the original ones, except that a
value over the size bound is cut to its first ``EXCERPT_BYTES`` (headers ``truncated`` and
``original_size``) so that the DLQ itself cannot refuse it; the full message stays in its topic.
"""

from __future__ import annotations

from datetime import datetime, timezone

from confluent_kafka import KafkaError, Message, Producer

from tasks.telemetry.model import InvalidMessage

EXCERPT_BYTES = 64 * 1024
FLUSH_TIMEOUT_S = 30.0


class DeadLetterError(RuntimeError):
    """The DLQ did not acknowledge every message: the batch's offsets must not be committed."""


class DeadLetterQueue:
    def __init__(self, producer: Producer, topic: str, max_bytes: int):
        self.producer, self.topic, self.max_bytes = producer, topic, max_bytes
        self._failures: list[str] = []

    def send(self, message: Message, error: InvalidMessage, at: str = "") -> None:
        """``at``: the path of the rejected part, ``""`` when the whole message is rejected."""
        value = message.value() or b""
        timestamp_type, timestamp = message.timestamp()
        headers = [
            ("error_code", error.code.encode()),
            ("error", error.detail.encode()),
            ("original_topic", message.topic().encode()),
            ("original_partition", str(message.partition()).encode()),
            ("original_offset", str(message.offset()).encode()),
            ("dead_lettered_at", datetime.now(timezone.utc).isoformat().encode()),
        ]
        if at:
            headers.append(("error_at", at.encode()))
        if timestamp_type != 0:  # TIMESTAMP_NOT_AVAILABLE
            headers.append(("original_timestamp", str(timestamp).encode()))
        if len(value) > self.max_bytes:
            headers += [("truncated", b"true"), ("original_size", str(len(value)).encode())]
            value = value[:EXCERPT_BYTES]
        while True:
            try:
                self.producer.produce(
                    self.topic, value, message.key(), headers=headers, on_delivery=self._delivered
                )
                break
            except BufferError:  # local queue full: let deliveries drain, then retry
                self.producer.poll(0.5)

    def flush(self) -> None:
        """Block until every message sent is acknowledged; raise if any was not."""
        remaining = self.producer.flush(FLUSH_TIMEOUT_S)
        failures, self._failures = self._failures, []
        if remaining or failures:
            raise DeadLetterError(
                f"dead-letter topic {self.topic!r}: {remaining} unacknowledged, {len(failures)} failed "
                f"({'; '.join(sorted(set(failures)))})"
            )

    def _delivered(self, err: KafkaError | None, _message: Message) -> None:
        if err is not None:
            self._failures.append(err.str())
