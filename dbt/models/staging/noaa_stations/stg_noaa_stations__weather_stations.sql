-- NOAA CDO GHCND stations, one copy per station id: the newest landed (every sync window
-- lands the whole catalogue again, a station having no modification date to window on).
with source as (
    {{ newest_copy('weather_stations', 'noaa_stations', 'station_id') }}
),

renamed as (
    select
        station_id,
        source,
        upper(trim(source_id)) as source_id,
        nullif(trim(name), '') as name,
        cast(latitude as double precision) as latitude,
        cast(longitude as double precision) as longitude,
        cast(elevation_m as double precision) as elevation_m,
        cast(first_date as date) as first_date,
        cast(last_date as date) as last_date,
        updated_at,
        record_hash,
        run_id,
        ingested_at,
        raw_key
    from source
)

select * from renamed
