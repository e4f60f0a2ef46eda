-- The harmonised drug-label mart: one row per label version across label sources.
with unioned as (
    {{ union_staging('drug_labels') }}
)

select * from unioned
