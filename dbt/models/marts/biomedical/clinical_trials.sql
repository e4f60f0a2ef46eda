-- The harmonised clinical-trials mart: one row per trial across trial registries.
with unioned as (
    {{ union_staging('clinical_trials') }}
)

select * from unioned
