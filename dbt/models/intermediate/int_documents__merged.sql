-- All sources together; cross-source duplicates (same document_id, e.g. one DOI
-- found in OpenAlex and PubMed) collapse onto the newest version.
with unioned as (
    {{ union_staging('documents', document_columns()) }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by document_id
            order by updated_at desc, ingested_at desc, source, source_id
        ) as version_rank,
        count(*) over (partition by document_id) as source_count
    from unioned
),

final as (
    select {{ document_columns() }}, source_count
    from ranked
    where version_rank = 1
)

select * from final
