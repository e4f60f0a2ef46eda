-- The harmonised drug-label mart: one row per label version across label sources.
with unioned as (
    select * from {{ ref('stg_openfda_labels__labels') }}
)

select * from unioned
