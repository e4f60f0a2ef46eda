-- Eurostat JSON-stat cube cells that hold a value, one copy per observation_id: the newest landed
-- (every window lands the cube again; cells without a value are quarantined, not staged).
{{ staged_indicator_observations('eurostat') }}
