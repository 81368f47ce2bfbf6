"""Vector DBs and collections over Milvus (lite file or server) and Qdrant (local or server)."""
