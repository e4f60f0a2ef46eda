-- Per day and category: how many (session, product) pairs reached each funnel step.
-- A pair reaches a step when it has that event or a later one (a purchase logged
-- without its cart event still passed the cart), so no step exceeds the one before.
with pairs as (
    select
        cast(event_time as date) as event_date,
        category_id,
        max(category_code) as category_code,
        coalesce(user_session, cast(user_id as {{ dbt.type_string() }})) as visit,
        product_id,
        max(case when event_type in ('cart', 'purchase') then 1 else 0 end) as carted,
        max(case when event_type = 'purchase' then 1 else 0 end) as purchased
    from {{ ref('events') }}
    where event_type in ('view', 'cart', 'purchase')
    group by cast(event_time as date), category_id,
             coalesce(user_session, cast(user_id as {{ dbt.type_string() }})), product_id
),

steps as (
    select
        event_date,
        category_id,
        max(category_code) as category_code,
        count(*) as viewed,
        sum(carted) as carted,
        sum(purchased) as purchased
    from pairs
    group by event_date, category_id
)

select
    *,
    cast(carted as {{ dbt.type_float() }}) / nullif(viewed, 0) as view_to_cart_rate,
    cast(purchased as {{ dbt.type_float() }}) / nullif(carted, 0) as cart_to_purchase_rate,
    cast(purchased as {{ dbt.type_float() }}) / nullif(viewed, 0) as view_to_purchase_rate
from steps
