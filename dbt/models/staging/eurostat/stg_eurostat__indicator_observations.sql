-- Eurostat JSON-stat cube cells that hold a value, one copy per observation_id: the newest landed
-- (every window lands the cube again; cells without a value are quarantined, not staged).
with source as (
    {{ newest_copy('indicator_observations', 'eurostat', 'observation_id') }}
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
