-- NWS station observations, one copy per station, time and element: the newest landed.
with source as (
    {{ newest_copy('weather_observations', 'nws', 'observation_id') }}
),

renamed as (
    select
        observation_id,
        source,
        source_id,
        upper(trim(station)) as station,
        observed_at,
        trim(element) as element,
        cast(value as double precision) as value,
        trim(unit) as unit,
        updated_at,
        record_hash,
        run_id,
        ingested_at,
        raw_key
    from source
)

select * from renamed
