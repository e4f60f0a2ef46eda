-- The harmonised proteins mart: one row per protein entry across protein databases.
with unioned as (
    select * from {{ ref('stg_uniprot__proteins') }}
)

select * from unioned
