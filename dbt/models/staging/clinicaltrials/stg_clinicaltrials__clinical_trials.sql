-- ClinicalTrials.gov studies (API v2), one copy per NCT id: the newest landed.
with source as (
    {{ newest_copy('clinical_trials', 'clinicaltrials', 'trial_id') }}
),

renamed as (
    select
        trial_id,
        source,
        upper(source_id) as source_id,
        trim(title) as title,
        nullif(trim(official_title), '') as official_title,
        lower(status) as status,
        phases,
        lower(study_type) as study_type,
        conditions,
        interventions,
        sponsor,
        start_date,
        completion_date,
        cast(enrollment as bigint) as enrollment,
        url,
        updated_at,
        record_hash,
        run_id,
        ingested_at,
        raw_key
    from source
)

select * from renamed
