"""The objects one API process shares between requests, built once by the app factory."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from waza.crypto import Envelope
from waza.db import Database
from waza.services.activity.service import ActivityService
from waza.services.apps.service import AppsService
from waza.services.auth.service import AuthService
from waza.services.auth.tokens import KeyRing
from waza.services.catalog.service import CatalogService
from waza.services.cluster.service import ClusterService
from waza.services.embedding.service import EmbeddingService
from waza.services.ingestion.service import IngestionService
from waza.services.logger.service import LoggerService
from waza.services.logger.serving_source import ServingLogSource
from waza.services.models.service import ModelService
from waza.services.prompts.service import PromptService
from waza.services.retrieval.service import RetrievalService
from waza.services.serving.service import ServingService
from waza.services.vectordb.service import VectorService
from waza.settings import Settings

if TYPE_CHECKING:
    from waza.kv import KVStore
    from waza.kv.registry import ServiceRegistration


@dataclass
class WazaContext:
    """Settings, storage and the services; `request.app.state.waza` holds one."""

    settings: Settings
    db: Database
    envelope: Envelope
    auth: AuthService
    activity: ActivityService
    cluster: ClusterService
    vectors: VectorService
    embedding: EmbeddingService
    catalog: CatalogService
    ingestion: IngestionService
    retrieval: RetrievalService
    models: ModelService
    serving: ServingService
    prompts: PromptService
    logger: LoggerService
    kv: KVStore | None = None
    registration: ServiceRegistration | None = None
    extras: dict[str, object] = field(default_factory=dict)
    apps: AppsService = field(init=False)

    def __post_init__(self) -> None:
        self.apps = AppsService(self.db, self.settings, self.auth, self.serving)
        logger = getattr(self, "logger", None)  # the logger service serves app logs
        if logger is not None:
            self.apps.attach_logger(logger)

    def backend_checks(self) -> dict[str, str]:
        """`ok` or `unavailable` for the database and (when open) the config store."""
        checks: dict[str, str] = {}
        try:
            with self.db.session() as s:
                s.connection().exec_driver_sql("SELECT 1")
            checks["database"] = "ok"
        except Exception:
            checks["database"] = "unavailable"
        if self.kv is not None:
            try:
                checks["kv"] = "ok" if self.kv.health().get("ok") else "unavailable"
            except Exception:
                checks["kv"] = "unavailable"
        return checks

    @classmethod
    def build(cls, settings: Settings) -> WazaContext:
        settings.ensure_home()
        db = Database(settings.effective_database_url, echo=settings.database_echo)
        envelope = Envelope(settings.key_encryption_key())
        previous = settings.secret_key_previous
        keys = KeyRing(
            db,
            envelope,
            settings.jwt_issuer,
            settings.jwt_audience,
            previous=Envelope(previous.get_secret_value().encode()) if previous else None,
        )
        vectors = VectorService(db, settings)
        embedding = EmbeddingService(settings)
        catalog = CatalogService(db, settings, envelope)
        models = ModelService(db, settings)
        serving = ServingService(db, settings, models)
        models.deployments_of = serving.deployments_of_model
        ingestion = IngestionService(db, settings, catalog, embedding, vectors)
        embedding.attach_serving(serving)
        logger = LoggerService(settings.home / "logs")
        logger.register(ServingLogSource(db, serving))
        ingestion.attach_serving(serving)
        return cls(
            settings=settings,
            db=db,
            envelope=envelope,
            auth=AuthService(db, settings, keys),
            activity=ActivityService(db),
            cluster=ClusterService(db, settings),
            vectors=vectors,
            embedding=embedding,
            catalog=catalog,
            ingestion=ingestion,
            retrieval=RetrievalService(db, settings, catalog),
            models=models,
            serving=serving,
            prompts=PromptService(db),
            logger=logger,
        )
