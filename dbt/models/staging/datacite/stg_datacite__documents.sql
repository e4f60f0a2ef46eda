{{ staged_documents('datacite') }}
