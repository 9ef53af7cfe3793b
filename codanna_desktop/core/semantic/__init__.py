"""The embedding model: provisioning it, loading it lazily, embedding text; and the
semantic side (the model with its vector store) that the indexer and the searcher share."""
