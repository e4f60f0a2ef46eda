{# Staging for one source's rows of the lake: typed, trimmed, one copy per document. #}
{% macro staged_documents(source_name) %}
with source as (
    select * from {{ source('lake', 'documents') }}
    where source = '{{ source_name }}'
),

renamed as (
    select
        document_id,
        source,
        source_id,
        lower(doi) as doi,
        trim(title) as title,
        nullif(trim(abstract), '') as abstract,
        cast(publication_date as date) as publication_date,
        updated_at,
        authors,
        venue,
        topics,
        cast(cited_by_count as bigint) as cited_by_count,
        referenced_ids,
        url,
        license,
        record_hash,
        run_id,
        ingested_at,
        raw_key
    from source
),

final as (
    -- The same record lands again when windows overlap or are re-run: keep its newest copy.
    select {{ document_columns() }}
    from (
        select
            *,
            row_number() over (
                partition by document_id
                order by updated_at desc, ingested_at desc, raw_key desc
            ) as copy_rank
        from renamed
    ) ranked
    where copy_rank = 1
)

select * from final
{% endmacro %}
