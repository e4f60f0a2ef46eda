"""Industrial telemetry: Kafka messages (FIWARE NGSI, OPC UA PubSub JSON) -> readings in Postgres.

Plain-Python cores (no Prefect import): ``normalise`` (+ ``ngsi``, ``opcua``, ``validation``),
``sink`` (Postgres/TimescaleDB), ``dlq`` (dead-letter producer), ``consumer`` (the at-least-once
loop), ``stop`` (graceful stop on signals) and ``simulator``. ``tasks`` holds the Prefect wrapper.
"""
