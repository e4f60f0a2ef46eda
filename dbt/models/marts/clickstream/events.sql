{{ config(materialized='incremental', incremental_strategy='merge', unique_key='event_id',
          on_schema_change='fail') }}
-- Every clickstream event once. Merged on event_id and insert-only: an event already
-- here (a re-delivered file, or the same event in another file) keeps its first row.

select *
from {{ ref('stg_clickstream__events') }} as staged
{% if is_incremental() %}
where not exists (select 1 from {{ this }} as loaded where loaded.event_id = staged.event_id)
{% endif %}
