{{ staged_documents('semanticscholar') }}
