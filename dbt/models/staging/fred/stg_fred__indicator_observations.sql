-- FRED observations of the declared series, one copy per observation_id: the newest landed
-- (every window lands the series again; FRED revises past observations).
{{ staged_indicator_observations('fred') }}
