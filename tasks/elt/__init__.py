"""ELT of landed files: landing/<dataset>/ → cleaned Parquet → warehouse staging → dbt
(write-audit-publish) → processed/, with fan-out to the dataset's other sinks.

Plain-Python cores (dataset, engine, files, ledger, warehouse, sinks, notifications,
pipeline) and the Prefect task wrappers in ``tasks.py``.
"""
