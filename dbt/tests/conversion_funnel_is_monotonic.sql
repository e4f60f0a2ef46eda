{{ config(tags=['elt', 'clickstream']) }}
-- No funnel step may exceed the one before it.
select *
from {{ ref('conversion_funnel') }}
where carted > viewed or purchased > carted
