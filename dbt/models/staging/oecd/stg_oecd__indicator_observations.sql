-- OECD SDMX-JSON observations that hold a value, one copy per observation_id: the newest landed
-- (every window lands the dataflow again; observations without a value are quarantined, not staged).
{{ staged_indicator_observations('oecd') }}
