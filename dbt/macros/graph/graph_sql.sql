{#
  Portable pieces of the graph marts. The document lists are DuckDB LISTs (of STRUCTs for
  authors); on Postgres they may be arrays, composite arrays or jsonb: to_jsonb() turns each
  of those into one jsonb array, so one Postgres implementation reads them all.
#}

{# A lateral join exploding list column `column` into rows alias.value, alias.position (1-based). #}
{% macro graph_unnest(column, alias) -%}
    {{ return(adapter.dispatch('graph_unnest')(column, alias)) }}
{%- endmacro %}

{% macro default__graph_unnest(column, alias) -%}
    cross join lateral jsonb_array_elements(to_jsonb({{ column }})) with ordinality as {{ alias }}(value, position)
{%- endmacro %}

{% macro duckdb__graph_unnest(column, alias) -%}
    cross join unnest({{ column }}) with ordinality as {{ alias }}(value, position)
{%- endmacro %}

{# Text field `field` of an exploded struct/object element. #}
{% macro graph_field(alias, field) -%}
    {{ return(adapter.dispatch('graph_field')(alias, field)) }}
{%- endmacro %}

{% macro default__graph_field(alias, field) -%}
    ({{ alias }}.value ->> '{{ field }}')
{%- endmacro %}

{% macro duckdb__graph_field(alias, field) -%}
    struct_extract({{ alias }}.value, '{{ field }}')
{%- endmacro %}

{# An exploded element of a list of strings, as text. #}
{% macro graph_text(alias) -%}
    {{ return(adapter.dispatch('graph_text')(alias)) }}
{%- endmacro %}

{% macro default__graph_text(alias) -%}
    ({{ alias }}.value #>> '{}')
{%- endmacro %}

{% macro duckdb__graph_text(alias) -%}
    {{ alias }}.value
{%- endmacro %}

{# Free text as a key: trimmed, inner whitespace collapsed, lower case; empty -> null. #}
{% macro graph_name_key(expression) -%}
    nullif(lower(regexp_replace(trim({{ expression }}), '\s+', ' ', 'g')), '')
{%- endmacro %}

{#
  One author across documents and sources: the ORCID when known (global), else the
  source's own author id (namespaced by source), else the normalised name, which can
  merge two namesakes or split one person: the best the data allows.
#}
{% macro graph_author_key(source, name, orcid, author_id) -%}
    coalesce(
        'orcid:' || nullif(trim({{ orcid }}), ''),
        {{ source }} || ':' || nullif(trim({{ author_id }}), ''),
        'name:' || {{ graph_name_key(name) }}
    )
{%- endmacro %}

{#
  The columns of one graph_nodes row, in the one order every node type's select uses (the
  model unions them). Columns not passed as keyword arguments are typed nulls.
#}
{% macro graph_node_columns(label, node_key) -%}
    {%- set types = {
        'name': 'varchar', 'doi': 'varchar', 'publication_date': 'date', 'cited_by_count': 'bigint',
        'url': 'varchar', 'orcid': 'varchar', 'record_hash': 'varchar', 'in_corpus': 'boolean'} -%}
    '{{ label }}' as label,
    {{ node_key }} as node_key
    {%- for column, type in types.items() %},
    {{ kwargs.get(column, 'cast(null as ' ~ type ~ ')') }} as {{ column }}
    {%- endfor %}
{%- endmacro %}
