"""Reading, chunking and storing files: the indexer, its worker processes, its state in words."""
