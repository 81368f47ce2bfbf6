"""Embeddings: providers, token-aware chunking, generate and batch (model loaded once)."""
