-- openFDA drug product labels (SPL), one copy per label version id: the newest landed.
with source as (
    {{ newest_copy('drug_labels', 'openfda_labels', 'label_id') }}
),

renamed as (
    select
        label_id,
        source,
        source_id,
        set_id,
        trim(version) as version,
        brand_names,
        generic_names,
        trim(manufacturer) as manufacturer,
        cast(effective_date as date) as effective_date,
        trim(indications) as indications,
        trim(warnings) as warnings,
        updated_at,
        record_hash,
        run_id,
        ingested_at,
        raw_key
    from source
)

select * from renamed
