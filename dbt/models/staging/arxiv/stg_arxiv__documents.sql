{{ staged_documents('arxiv') }}
