"""Performance benchmarks for the waza platform API (see benchmarks/README.md)."""
