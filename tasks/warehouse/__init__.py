"""The warehouse, in one place: ``query`` (read marts), ``load`` (processed Parquet into the
lake schema of Postgres) and ``dbt`` (build the models over the lake)."""
