-- World Bank WDI observations, one copy per observation_id: the newest landed
-- (every window lands the indicators again, the API having no revision filter).
{{ staged_indicator_observations('worldbank') }}
