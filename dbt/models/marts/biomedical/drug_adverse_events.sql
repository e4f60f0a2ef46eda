-- The harmonised drug adverse-event mart: one row per safety report across adverse-event sources.
with unioned as (
    {{ union_staging('drug_adverse_events') }}
)

select * from unioned
