{#- A model's custom schema is used as written (the ELT builds into <schema>__wap and
    publishes to <schema>); models without one go to the target's schema. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ (custom_schema_name or target.schema) | trim }}
{%- endmacro %}
