"""Retrieval: read cataloged datasets back, inline or streamed over SSE."""
