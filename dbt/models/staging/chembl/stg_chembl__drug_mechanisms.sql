-- ChEMBL drug mechanisms of action, one copy per mec_id: the newest landed (every sync
-- window lands the whole resource again, ChEMBL having no modification date to window on).
with source as (
    {{ newest_copy('drug_mechanisms', 'chembl', 'mechanism_id') }}
),

renamed as (
    select
        mechanism_id,
        source,
        trim(source_id) as source_id,
        upper(trim(molecule_id)) as molecule_id,
        upper(trim(target_id)) as target_id,
        nullif(trim(action_type), '') as action_type,
        nullif(trim(mechanism), '') as mechanism,
        updated_at,
        record_hash,
        run_id,
        ingested_at,
        raw_key
    from source
)

select * from renamed
