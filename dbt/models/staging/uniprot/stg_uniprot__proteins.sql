-- UniProtKB entries, one copy per accession: the newest landed.
with source as (
    {{ newest_copy('proteins', 'uniprot', 'protein_id') }}
),

renamed as (
    select
        protein_id,
        source,
        upper(trim(source_id)) as source_id,
        nullif(trim(name), '') as name,
        genes,
        trim(organism) as organism,
        cast(taxon_id as bigint) as taxon_id,
        cast(length as bigint) as length,
        reviewed,
        updated_at,
        record_hash,
        run_id,
        ingested_at,
        raw_key
    from source
)

select * from renamed
