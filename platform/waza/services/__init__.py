"""Platform services: one folder each with api.py, models.py, schemas.py and service.py."""
