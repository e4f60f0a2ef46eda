{{ staged_documents('crossref') }}
