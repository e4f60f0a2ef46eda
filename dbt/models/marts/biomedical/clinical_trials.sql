-- The harmonised clinical-trials mart: one row per trial across trial registries.
with unioned as (
    select * from {{ ref('stg_clinicaltrials__studies') }}
)

select * from unioned
