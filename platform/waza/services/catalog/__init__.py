"""Catalog: datasets, containers and secrets identified by DataHub URNs."""
