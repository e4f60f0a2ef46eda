"""Knowledge graph: read the dbt graph marts, load them into Neo4j over Bolt.

Plain-Python cores (no Prefect import); the ``@task`` wrappers live in ``tasks.graph.tasks``.
"""

from __future__ import annotations

from tasks.settings import Settings


def open_driver(settings: Settings):
    """A ``neo4j`` driver for NEO4J_URI (auth from NEO4J_USERNAME / NEO4J_PASSWORD when set)."""
    from neo4j import GraphDatabase

    if not settings.neo4j_uri:
        raise ValueError("NEO4J_URI is not set: point it at a Neo4j (or Bolt-compatible) server")
    auth = None
    if settings.neo4j_user:
        password = settings.neo4j_password.get_secret_value() if settings.neo4j_password else ""
        auth = (settings.neo4j_user, password)
    return GraphDatabase.driver(settings.neo4j_uri, auth=auth)
