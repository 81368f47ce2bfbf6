"""No tables: the embedding service keeps no state in the database.

Models are files (the packaged all-MiniLM-L6-v2 or `settings.embedding_model`), loaded once per
process; chunks and vectors are returned to the caller, who stores them (e.g. in a vector DB).
"""
