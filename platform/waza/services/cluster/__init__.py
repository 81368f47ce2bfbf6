"""Cluster: locations, clusters, nodes and hardware (this machine, later Ray nodes)."""
