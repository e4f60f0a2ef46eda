{#- Staging for one statistical source's rows of the lake: trimmed, empty text as null,
    one copy per observation (every window of these sources lands the data again). -#}
{% macro staged_indicator_observations(source_name) %}
with source as (
    {{ newest_copy('indicator_observations', source_name, 'observation_id') }}
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
{% endmacro %}
