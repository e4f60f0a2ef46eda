"""Knowledge graph: read the dbt graph marts, load them into Neo4j over Bolt.

Plain-Python cores (no Prefect import); the ``@task`` wrappers live in ``tasks.graph.tasks``.
"""

from __future__ import annotations

import atexit
from functools import lru_cache

from tasks.settings import Settings


def graph_driver(settings: Settings):
    """The process's ``neo4j`` driver for NEO4J_URI (auth from NEO4J_USERNAME / NEO4J_PASSWORD).

    One driver per server and user for the life of the process, as the driver is meant
    to be used: it pools connections across flow runs (and FalkorDB's Bolt server
    mishandles the first connection opened after another one closed).
    """
    if not settings.neo4j_uri:
        raise ValueError("NEO4J_URI is not set: point it at a Neo4j (or Bolt-compatible) server")
    password = settings.neo4j_password.get_secret_value() if settings.neo4j_password else ""
    return _driver(settings.neo4j_uri, settings.neo4j_user, password)


@lru_cache(maxsize=None)
def _driver(uri: str, user: str | None, password: str):
    from neo4j import GraphDatabase

    driver = GraphDatabase.driver(uri, auth=(user, password) if user else None)
    atexit.register(driver.close)
    return driver
