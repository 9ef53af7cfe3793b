"""The embedding model: provisioning it, loading it lazily, embedding text."""
