"""The source pipeline: sources (clients, paginators, parsers, declarations) → landing of raw
pages → normalise to a table's Parquet → watermark, with the shared request budget; the
thin Prefect tasks around these cores are in ``tasks.py``."""
