-- The harmonised weather-stations mart: one row per station across station catalogues.
with unioned as (
    {{ union_staging('weather_stations') }}
)

select * from unioned
