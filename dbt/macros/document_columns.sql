{# The normalised document row (DESIGN.md), in one order for every model that unions rows. #}
{% macro document_columns() -%}
document_id, source, source_id, doi, title, abstract, publication_date, updated_at,
authors, venue, topics, cited_by_count, referenced_ids, url, license,
record_hash, run_id, ingested_at, raw_key
{%- endmacro %}
