-- The harmonised weather-observations mart: one row per station, time and element across
-- weather services.
with unioned as (
    select * from {{ ref('stg_noaa__observations') }}
    union all  -- both staged in the same column order
    select * from {{ ref('stg_nws__observations') }}
)

select * from unioned
