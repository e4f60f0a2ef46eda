-- The harmonised drug adverse-event mart: one row per safety report across adverse-event sources.
with unioned as (
    select * from {{ ref('stg_openfda_events__events') }}
)

select * from unioned
