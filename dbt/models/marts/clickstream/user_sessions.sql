-- One row per user session. Events without a session id have no session (they stay in events).
select
    user_session,
    min(user_id) as user_id,
    min(event_time) as session_start,
    max(event_time) as session_end,
    {{ dbt.datediff('min(event_time)', 'max(event_time)', 'second') }} as duration_s,
    count(*) as events,
    count(case when event_type = 'view' then 1 end) as views,
    count(case when event_type = 'cart' then 1 end) as carts,
    count(case when event_type = 'purchase' then 1 end) as purchases,
    coalesce(sum(case when event_type = 'purchase' then price end), 0) as revenue
from {{ ref('events') }}
where user_session is not null
group by user_session
