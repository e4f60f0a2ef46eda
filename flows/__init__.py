"""Prefect flows: parameters, wiring of tasks and artifacts; no business logic."""
