{{ staged_documents('pubmed') }}
