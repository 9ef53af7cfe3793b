"""The engine: scanning, chunking, indexing and search. Never imports Qt."""
