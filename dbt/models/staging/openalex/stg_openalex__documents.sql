{{ staged_documents('openalex') }}
