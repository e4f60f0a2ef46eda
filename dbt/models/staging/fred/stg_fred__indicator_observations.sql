-- FRED observations of the declared series, one copy per observation_id: the newest landed
-- (every window lands the series again; FRED revises past observations).
with source as (
    {{ newest_copy('indicator_observations', 'fred', 'observation_id') }}
),

renamed as (
    select
        observation_id,
        source,
        trim(source_id) as source_id,
        trim(indicator) as indicator,
        nullif(trim(indicator_name), '') as indicator_name,
        nullif(upper(trim(geography)), '') as geography,
        nullif(trim(geography_name), '') as geography_name,
        nullif(trim(period), '') as period,
        value,
        nullif(trim(unit), '') as unit,
        updated_at,
        record_hash,
        run_id,
        ingested_at,
        raw_key
    from source
)

select * from renamed
