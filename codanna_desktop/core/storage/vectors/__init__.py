"""Vector stores behind one protocol: hnswlib files (embedded) and PostgreSQL with pgvector."""
