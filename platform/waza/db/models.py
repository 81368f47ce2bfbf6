"""Imports every service's ORM models so that `Base.metadata` knows all tables.

Alembic's autogenerate and the migration environment import this module; add new services here.
"""

from waza.db.base import Base
from waza.services.activity import models as activity_models
from waza.services.apps import models as app_models
from waza.services.auth import models as auth_models
from waza.services.catalog import models as catalog_models
from waza.services.cluster import models as cluster_models
from waza.services.ingestion import models as ingestion_models
from waza.services.models import models as model_repo_models
from waza.services.prompts import models as prompt_models
from waza.services.retrieval import models as retrieval_models
from waza.services.serving import models as serving_models
from waza.services.vectordb import models as vectordb_models

__all__ = [
    "Base",
    "activity_models",
    "app_models",
    "auth_models",
    "catalog_models",
    "cluster_models",
    "ingestion_models",
    "model_repo_models",
    "prompt_models",
    "retrieval_models",
    "serving_models",
    "vectordb_models",
]
