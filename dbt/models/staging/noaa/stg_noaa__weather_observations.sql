-- NOAA CDO daily summaries (GHCND), one copy per station, day and element: the newest landed.
with source as (
    {{ newest_copy('weather_observations', 'noaa', 'observation_id') }}
),

renamed as (
    select
        observation_id,
        source,
        source_id,
        upper(trim(station)) as station,
        observed_at,
        upper(trim(element)) as element,
        cast(value as double precision) as value,
        unit,
        updated_at,
        record_hash,
        run_id,
        ingested_at,
        raw_key
    from source
)

select * from renamed
