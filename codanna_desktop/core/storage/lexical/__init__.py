"""The tantivy index: opening, checking and writing it (index.py, files.py), its schema
and its word analysis. The queries it runs are built by core/ranking/lexical_query.py."""
