-- The harmonised drug-mechanisms mart: one row per mechanism of action across sources.
with unioned as (
    select * from {{ ref('stg_chembl__mechanisms') }}
)

select * from unioned
