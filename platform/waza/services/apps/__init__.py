"""App Garden: app templates, deployments on a runtime (processes or Docker Swarm), routes."""
