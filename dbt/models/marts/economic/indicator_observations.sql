-- The harmonised indicator observations mart: one row per observation across statistical sources.
with unioned as (
    select * from {{ ref('stg_worldbank__indicator_observations') }}
    union all
    select * from {{ ref('stg_fred__indicator_observations') }}
    union all
    select * from {{ ref('stg_eurostat__indicator_observations') }}
    union all
    select * from {{ ref('stg_oecd__indicator_observations') }}
)

select * from unioned
