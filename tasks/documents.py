"""Documents: the canonical document id, DOI normalisation, and short names for the
documents ``Table`` (tasks/tables.py) the literature parsers fill. No Prefect import.
"""

from __future__ import annotations

import re

from tasks.tables import DOCUMENTS

DOCUMENT_SCHEMA = DOCUMENTS.schema
CONTENT_NAMES = DOCUMENTS.content_names
check_types = DOCUMENTS.check_types
finalise = DOCUMENTS.finalise

_DOI_PREFIX = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/|doi:)", re.IGNORECASE)


def normalise_doi(doi: str | None) -> str | None:
    """``https://doi.org/10.1/ABC`` → ``10.1/abc``; anything not starting with ``10.`` → None."""
    if not doi:
        return None
    doi = _DOI_PREFIX.sub("", doi.strip()).strip().lower()
    return doi if doi.startswith("10.") else None


def document_id(source: str, source_id: str, doi: str | None = None) -> str:
    """Canonical id: ``doi:<doi>`` when a DOI exists, else ``<source>:<source_id>``."""
    doi = normalise_doi(doi)
    return f"doi:{doi}" if doi else f"{source}:{source_id}"
