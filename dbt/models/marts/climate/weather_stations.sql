-- The harmonised weather-stations mart: one row per station across station catalogues.
with unioned as (
    select * from {{ ref('stg_noaa_stations__stations') }}
)

select * from unioned
