-- The harmonised proteins mart: one row per protein entry across protein databases.
with unioned as (
    {{ union_staging('proteins') }}
)

select * from unioned
