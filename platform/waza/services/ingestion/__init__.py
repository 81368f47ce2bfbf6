"""Ingestion: register files and folders (and S3) in the catalog; the RAG ingest pipeline."""
