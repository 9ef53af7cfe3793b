"""What is kept on disk: the catalog (the one source of truth), the lexical index, the
vector stores, and the small files written atomically beside them."""
