{{ staged_documents('europepmc') }}
