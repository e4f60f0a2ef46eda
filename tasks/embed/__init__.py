"""Document embeddings: model resolution, in-process / Ray backends, the incremental pipeline.

Plain-Python cores (no Prefect import); the ``@task`` wrappers live in ``tasks.embed.tasks``.
"""
