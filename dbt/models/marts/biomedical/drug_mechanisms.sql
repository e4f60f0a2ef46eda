-- The harmonised drug-mechanisms mart: one row per mechanism of action across sources.
with unioned as (
    {{ union_staging('drug_mechanisms') }}
)

select * from unioned
