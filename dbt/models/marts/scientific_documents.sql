{{
    config(
        materialized='incremental',
        unique_key='document_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns'
    )
}}

-- One row per document, the newest version by updated_at. Incremental runs only
-- look at rows ingested since the last build and keep whichever of the stored
-- and the incoming version is newer.
with candidates as (
    select {{ document_columns() }}, source_count
    from {{ ref('int_documents__merged') }}
    {% if is_incremental() %}
    where ingested_at > (select max(ingested_at) from {{ this }})
    {% endif %}
),

{% if is_incremental() %}
versions as (
    select * from candidates
    union all
    select {{ document_columns() }}, source_count
    from {{ this }}
    where document_id in (select document_id from candidates)
),
{% else %}
versions as (
    select * from candidates
),
{% endif %}

ranked as (
    select
        *,
        row_number() over (
            partition by document_id
            order by updated_at desc, ingested_at desc
        ) as version_rank,
        max(source_count) over (partition by document_id) as merged_source_count
    from versions
),

final as (
    select {{ document_columns() }}, merged_source_count as source_count
    from ranked
    where version_rank = 1
)

select * from final
