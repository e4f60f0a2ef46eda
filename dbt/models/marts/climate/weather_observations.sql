-- The harmonised weather-observations mart: one row per station, time and element across
-- weather services.
with unioned as (
    {{ union_staging('weather_observations') }}
)

select * from unioned
