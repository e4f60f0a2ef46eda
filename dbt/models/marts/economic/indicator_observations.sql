-- The harmonised indicator observations mart: one row per observation across statistical sources.
with unioned as (
    {{ union_staging('indicator_observations') }}
)

select * from unioned
