"""Reusable pieces: plain-Python cores and thin Prefect task wrappers beside them."""
