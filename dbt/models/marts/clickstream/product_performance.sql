-- Per product and day: event counts and purchase revenue.
with daily as (
    select
        product_id,
        cast(event_time as date) as event_date,
        count(case when event_type = 'view' then 1 end) as views,
        count(case when event_type = 'cart' then 1 end) as carts,
        count(case when event_type = 'purchase' then 1 end) as purchases,
        coalesce(sum(case when event_type = 'purchase' then price end), 0) as revenue
    from {{ ref('events') }}
    group by product_id, cast(event_time as date)
)

select
    *,
    cast(purchases as {{ dbt.type_float() }}) / nullif(views, 0) as view_to_purchase_rate
from daily
