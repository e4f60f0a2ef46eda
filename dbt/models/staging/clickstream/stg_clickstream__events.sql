-- The batch being published, one row per event: the same event twice in one file counts once.
with batch as (
    select *,
           row_number() over (partition by event_id order by _source_file) as copy_number
    from {{ source('elt_staging', 'clickstream') }}
    where _batch = '{{ var("elt_batch", "") }}'
)

select
    event_id,
    event_time,
    event_type,
    product_id,
    category_id,
    category_code,
    brand,
    price,
    user_id,
    user_session,
    _source_file as source_file,
    _file_id as file_id,
    _batch as batch
from batch
where copy_number = 1
