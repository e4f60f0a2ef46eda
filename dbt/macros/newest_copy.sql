{#- One source's rows of a lake table, one copy per key: the same record lands again
    when windows overlap or are re-run, and the newest copy is the one to keep. -#}
{% macro newest_copy(table, source_name, key) %}
select * from (
    select
        *,
        row_number() over (
            partition by {{ key }}
            order by ingested_at desc, raw_key desc
        ) as copy_rank
    from {{ source('lake', table) }}
    where source = '{{ source_name }}'
) ranked
where copy_rank = 1
{% endmacro %}
