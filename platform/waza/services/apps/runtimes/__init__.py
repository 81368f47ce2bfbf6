"""Where apps run: `process` (managed processes, the embedded default) and `swarm` (Docker)."""
