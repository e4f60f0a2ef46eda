{{ config(tags=['elt', 'clickstream']) }}
-- A session id belongs to one user: two users in one session means ids were mixed up upstream.
select user_session, count(distinct user_id) as users
from {{ ref('events') }}
where user_session is not null
group by user_session
having count(distinct user_id) > 1
