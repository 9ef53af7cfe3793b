"""The tantivy index: opening and checking it, its schema, queries and word analysis."""
