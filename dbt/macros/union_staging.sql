{#- Every source's staging model of one lake table, unioned: the list comes from the
    registry (var staging_models, passed by tasks/warehouse/dbt.py), so no mart names a source. -#}
{% macro union_staging(table, columns='*') %}
{%- set models = var('staging_models')[table] -%}
{%- for model in models %}
select {{ columns }} from {{ ref(model) }}
{%- if not loop.last %}
union all
{%- endif %}
{%- endfor %}
{% endmacro %}
