-- openFDA drug adverse-event reports (FAERS), one copy per safety report id: the newest landed.
with source as (
    {{ newest_copy('drug_adverse_events', 'openfda_events', 'event_id') }}
),

renamed as (
    select
        event_id,
        source,
        source_id,
        cast(received_date as date) as received_date,
        serious,
        nullif(upper(trim(country)), '') as country,
        patient_sex,
        drugs,
        reactions,
        updated_at,
        record_hash,
        run_id,
        ingested_at,
        raw_key
    from source
)

select * from renamed
