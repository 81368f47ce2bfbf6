"""Who may call each API route: one declared access rule per route.

Rules:

- ``public``: answers without a token (liveness, health, login, JWKS, service roots).
- ``self``: takes no platform token dependency but checks a credential of its own
  (App Garden forward-auth and ephemeral-session tokens); without it, never a 2xx.
- ``user``: any signed-in user; it addresses no single owned object (lists are the caller's
  own, creates make the caller the owner, computations change nothing).
- ``admin``: admin users with a full-rights token only (``deps.AdminUser``).
- ``owner <kind>``: addresses one owned object of ``kind`` (by path, query or body): its owner
  and admins may act on it; anyone else gets 403 or 404 and the object stays as it was.

A rule must agree with the route's dependencies (``admin`` ⇔ ``AdminUser``, ``public``/``self``
⇔ no auth dependency), and every route of the app needs one: ``route_rules(app)`` raises
``UndeclaredRoute`` for a route missing here, and the authorization matrix in
``tests/reliability/test_access_matrix.py`` walks ``app.routes`` with these rules.

Keys are ``METHODS PATH`` with the path as in the OpenAPI document (no ``:path`` converters) and
without a trailing slash (``/api/models`` also covers ``/api/models/``).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts


class Access(enum.StrEnum):
    PUBLIC = "public"
    SELF = "self"
    USER = "user"
    ADMIN = "admin"
    OWNER = "owner"


@dataclass(frozen=True)
class Rule:
    access: Access
    kind: str | None = None  # the owned object's kind, for OWNER


@dataclass(frozen=True)
class RouteRule:
    """One operation of the app with its declared rule and what its dependencies say."""

    method: str
    path: str  # as mounted, with converters: /api/catalog/datasets/{urn:path}
    path_format: str  # as in the OpenAPI document: /api/catalog/datasets/{urn}
    rule: Rule
    auth_dependency: str | None  # "admin", "user", "reader" or None
    in_schema: bool


class UndeclaredRoute(LookupError):
    """A route of the app has no access rule in this module."""


# fmt: off
_TABLE = """
GET                  /api/ping                                            public
GET                  /api/health                                          public
GET                  /api/node/node_status                                public
GET                  /api/node/node_id                                    user
GET                  /api/auth                                            public
GET                  /api/auth/health                                     public
POST                 /api/auth/token                                      public
POST                 /api/auth/refresh                                    public
POST                 /api/auth/logout                                     user
GET                  /api/auth/jwks                                       public
GET                  /api/auth/validate                                   user
GET                  /api/auth/users/me                                   user
POST                 /api/auth/users/me/password                          user
GET                  /api/auth/users                                      admin
POST                 /api/auth/users/local                                admin
GET                  /api/auth/users/{user_id}                            owner user
PUT,PATCH,DELETE     /api/auth/users/{user_id}                            admin
POST                 /api/auth/users/{user_id}/password                   admin
GET,POST             /api/auth/pats                                       user
DELETE               /api/auth/pats/{jti}                                 owner pat
GET                  /api/whoami                                          user
GET                  /api/activity/activities                             user

POST                 /api/cluster/location                                admin
PUT,DELETE           /api/cluster/location/{location_id}                  admin
GET                  /api/cluster/location/{location_id}                  user
GET                  /api/cluster/locations                               user
POST                 /api/cluster/cluster                                 admin
GET,DELETE           /api/cluster/cluster/{cluster_id}                    admin
GET                  /api/cluster/clusters                                admin
GET                  /api/cluster/nodes                                   user
GET                  /api/cluster/node/{node_id}                          user
GET                  /api/cluster/get_running_nodes                       user
POST                 /api/cluster/hardware                                admin
GET                  /api/cluster/hardware                                user
GET                  /api/cluster/hardware/{hardware_id}                  user
DELETE               /api/cluster/hardware/{hardware_id}                  admin
POST                 /api/cluster/refresh_hardware                        admin
GET                  /api/cluster/runtime_config                          user
GET                  /api/cluster/get_hostname                            user
GET                  /api/cluster/cluster_capabilities                    user
GET                  /api/cluster/metrics                                 user
GET                  /api/cluster/federations                             user

GET                  /api/context/health                                  public
GET,POST             /api/context/vectordbs                               user
POST                 /api/context/vectordbs/insert                        owner collection
POST                 /api/context/vectordbs/query                         owner collection
POST                 /api/context/vectordbs/delete                        owner collection
GET,PUT,DELETE       /api/context/vectordbs/{vectordb_id}                 owner vectordb
POST                 /api/context/vectordbs/{vectordb_id}/scale           owner vectordb
POST                 /api/context/vectordbs/{vectordb_id}/insert          owner collection
POST                 /api/context/vectordbs/{vectordb_id}/query           owner collection
POST                 /api/context/vectordbs/{vectordb_id}/delete          owner collection
GET,POST             /api/context/collections                             user
GET,DELETE           /api/context/collections/{name}                      owner collection
GET,POST             /api/vectordb                                        user
GET                  /api/vectordb/collections                            user
DELETE               /api/vectordb/collections/{collection_name}          user
POST                 /api/vectordb/insert_vectors                         user
POST                 /api/vectordb/search_vectors                         user
# the legacy routes above act on the caller's own default DB: nothing of anyone else's
GET,DELETE           /api/vectordb/{vectordb_id}                          owner vectordb

GET                  /api/embedding/providers                             user
POST                 /api/embedding/generate                              user
GET                  /api/embedding/generate/{text}                       user
POST                 /api/embedding/batch                                 user
POST                 /api/embedding/chunk                                 user
GET                  /api/embedding/health                                public

GET                  /api/catalog                                         public
GET                  /api/catalog/health                                  public
GET,POST             /api/catalog/datasets                                user
POST                 /api/catalog/datasets/register-from-spec             user
POST,DELETE          /api/catalog/datasets/publishers                     admin
GET,PATCH,DELETE     /api/catalog/datasets/by-urn                         owner dataset
GET,PUT              /api/catalog/datasets/by-urn/schema                  owner dataset
GET,PUT              /api/catalog/datasets/v2/{urn}/schema                owner dataset
GET,PATCH,DELETE     /api/catalog/datasets/v2/{urn}                       owner dataset
GET,PUT              /api/catalog/datasets/{urn}/schema                   owner dataset
GET,PATCH,DELETE     /api/catalog/datasets/{urn}                          owner dataset
GET,POST             /api/catalog/containers                              admin
GET,PATCH,DELETE     /api/catalog/containers/by-urn                       admin
POST,DELETE          /api/catalog/containers/by-urn/datasets              admin
POST                 /api/catalog/containers/v2/{urn}/datasets            admin
DELETE               /api/catalog/containers/v2/{container_urn}/datasets/{dataset_urn} admin
GET,PATCH,DELETE     /api/catalog/containers/v2/{urn}                     admin
POST                 /api/catalog/containers/{urn}/datasets               admin
DELETE               /api/catalog/containers/{container_urn}/datasets/{dataset_urn} admin
GET,PATCH,DELETE     /api/catalog/containers/{urn}                        admin
GET,POST             /api/catalog/secrets                                 user
POST                 /api/catalog/secrets/rotate-key                      admin
GET,DELETE           /api/catalog/secrets/by-urn                          owner secret
GET,DELETE           /api/catalog/secrets/v2/{urn}                        owner secret
GET,DELETE           /api/catalog/secrets/{urn}                           owner secret

GET                  /api/ingestion/health                                public
POST                 /api/ingestion/ingest/run                            user
POST                 /api/ingestion/ingest/emit                           user
GET,POST             /api/ingestion/ingest/jobs                           user
POST                 /api/ingestion/ingest/jobs/{job_id}/run              owner ingest_job
DELETE               /api/ingestion/ingest/jobs/{job_id}                  owner ingest_job
GET                  /api/ingestion/ingest/status/{job_id}                owner ingest_job
POST                 /api/ingestion/rag/ingest                            user
GET                  /api/ingestion/rag/jobs                              user
GET                  /api/ingestion/rag/jobs/{job_id}                     owner rag_job
POST                 /api/ingestion/rag/jobs/{job_id}/cancel              owner rag_job
GET                  /api/ingestion/rag/jobs/{job_id}/events              owner rag_job
POST                 /api/ingestion/rag/query                             owner collection
POST                 /api/context/search                                  owner collection
POST                 /api/context/retrieve                                owner collection

GET,POST             /api/retrieval/jobs                                  user
GET                  /api/retrieval/jobs/{job_id}                         owner retrieval_job
POST                 /api/retrieval/jobs/{job_id}/cancel                  owner retrieval_job
GET                  /api/retrieval/jobs/{job_id}/stream                  owner retrieval_job
GET,POST             /api/retrieval/retrieval/jobs                        user
GET                  /api/retrieval/retrieval/jobs/{job_id}               owner retrieval_job
POST                 /api/retrieval/retrieval/jobs/{job_id}/cancel        owner retrieval_job
GET                  /api/retrieval/retrieval/jobs/{job_id}/stream        owner retrieval_job

GET,POST             /api/models                                          user
POST                 /api/models/search                                   user
POST                 /api/models/download                                 user
POST                 /api/models/download_and_deploy                      user
POST                 /api/models/deploy_after_download/{model_key}        user
GET                  /api/models/pending_deployments                      user
POST                 /api/models/cleanup_stale_deployments                user
POST                 /api/models/import                                   user
POST                 /api/models/upload                                   user
GET                  /api/models/builtin                                  user
POST                 /api/models/builtin/{key}                            admin
GET,DELETE           /api/models/{model_id}                               owner model
GET                  /api/models/{model_id}/configs                       owner model
GET                  /api/models/{model_id}/memory_usage                  owner model
GET                  /api/models/{model_id}/deployment_info               owner model
GET,POST             /api/model_files                                     user
POST                 /api/model_files/search                              user
GET                  /api/model_files/download_status                     user
DELETE               /api/model_files/downloads/cancel_all                user
GET,DELETE           /api/model_files/{model_file_id}                     owner model_file
GET                  /api/model_files/{model_file_id}/memory_usage        owner model_file
DELETE               /api/model_files/{model_file_id}/download            owner model_file
GET,POST             /api/model_configs                                   user
GET,PUT,DELETE       /api/model_configs/{model_config_id}                 owner model_config
GET                  /api/guide                                           user
POST                 /api/guide/import                                    user
POST                 /api/guide/refresh                                   user

POST                 /api/serving/deploy_model                            user
GET                  /api/serving/deployments                             user
GET,DELETE           /api/serving/deployment/{deployment_id}              owner deployment
GET                  /api/serving/deployment/{deployment_id}/status       owner deployment
GET                  /api/serving/model_instances                         user
GET                  /api/serving/model_instance/{instance_id}            owner model_instance
GET                  /api/serving/deployment/{deployment_id}/logs         owner deployment
GET                  /api/serving/deployment/{deployment_id}/logs/patterns owner deployment
GET                  /api/serving/deployment/{deployment_id}/logs/stream  owner deployment
GET                  /api/serving/logs/{engine_type}                      user
POST                 /api/serving/estimate_model_vram                     user
GET                  /api/serving/status                                  user
GET                  /api/serving/health                                  user
POST                 /api/serving/start                                   admin
GET                  /api/serving/usage                                   user
POST                 /runtime/models/{deployment_id}/v1/chat/completions  owner deployment
POST                 /runtime/models/{deployment_id}/v1/completions       owner deployment
POST                 /runtime/models/{deployment_id}/v1/embeddings        owner deployment
GET                  /runtime/models/{deployment_id}/v1/models            owner deployment

GET,POST             /api/apps/app_templates                              user
GET,PUT,DELETE       /api/apps/app_templates/{template_id}                owner app_template
GET                  /api/apps/kamiwaza_garden                            user
GET                  /api/apps/remote/apps                                user
GET                  /api/apps/garden/status                              user
POST                 /api/apps/garden/import                              user
POST                 /api/apps/remote/sync                                user
GET                  /api/apps/remote/status                              user
GET                  /api/apps/images/status/{template_id}                owner app_template
POST                 /api/apps/images/pull/{template_id}                  owner app_template
POST                 /api/apps/deploy_app                                 user
GET                  /api/apps/deployments                                user
GET,DELETE           /api/apps/deployment/{deployment_id}                 owner app_deployment
GET                  /api/apps/deployment/{deployment_id}/status          owner app_deployment
DELETE               /api/apps/deployment/{deployment_id}/purge           owner app_deployment
GET                  /api/apps/deployment/{deployment_id}/logs            owner app_deployment
GET                  /api/apps/instances                                  user
GET                  /api/apps/instance/{instance_id}                     owner app_instance
GET                  /api/apps/config/ephemeral_forced                    user
POST                 /api/apps/sessions/heartbeat                         self
POST                 /api/apps/sessions/end                               self
GET                  /api/apps/open/{deployment_id}                       owner app_deployment
GET,POST,PUT,PATCH,DELETE,HEAD,OPTIONS /api/apps/auth/{deployment_id} self

GET,POST             /api/prompts/roles                                   user
GET,PUT,PATCH,DELETE /api/prompts/roles/{prompt_id}                       owner prompt_role
GET                  /api/prompts/roles/{prompt_id}/versions              owner prompt_role
GET,POST             /api/prompts/systems                                 user
GET,PUT,PATCH,DELETE /api/prompts/systems/{prompt_id}                     owner prompt_system
GET                  /api/prompts/systems/{prompt_id}/versions            owner prompt_system
GET,POST             /api/prompts/elements                                user
GET,PUT,PATCH,DELETE /api/prompts/elements/{prompt_id}                    owner prompt_element
GET                  /api/prompts/elements/{prompt_id}/versions           owner prompt_element
GET,POST             /api/prompts/templates                               user
GET,PUT,PATCH,DELETE /api/prompts/templates/{prompt_id}                   owner prompt_template
GET                  /api/prompts/templates/{prompt_id}/versions          owner prompt_template
POST                 /api/prompts/templates/{template_id}/render          owner prompt_template

GET                  /api/logger/deployments/all                          user
GET                  /api/logger/deployments/orphaned                     user
GET                  /api/logger/deployments/type/{deployment_type}       user
GET,DELETE           /api/logger/deployments/{deployment_type}/{deployment_id} owner deployment
GET /api/logger/deployments/{deployment_type}/{deployment_id}/patterns owner deployment
GET                  /api/logger/stats                                    user
DELETE               /api/logger/cleanup                                  admin
GET                  /api/logger/deployment/{deployment_id}/logs          owner deployment
GET                  /api/logger/deployment/{deployment_id}/logs/patterns owner deployment
GET                  /api/logger/engine/{engine_type}                     user
"""
# fmt: on
# The logger's routes are also mounted under /api/logger/logger (the SDK's double prefix).
_CONVERTER = re.compile(r"\{(\w+):\w+\}")
_ALIASES = {"/api/logger/logger/": "/api/logger/"}


def _parse(table: str) -> dict[tuple[str, str], Rule]:
    rules: dict[tuple[str, str], Rule] = {}
    for line in table.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        methods, path, access, *kind = line.split()
        rule = Rule(Access(access), kind[0] if kind else None)
        if (rule.access is Access.OWNER) != bool(kind):
            raise ValueError(f"bad access rule line: {line!r}")
        for method in methods.split(","):
            path = normalize(path)
            if (method, path) in rules:
                raise ValueError(f"access rule declared twice: {method} {path}")
            rules[(method, path)] = rule
    return rules


def normalize(path: str) -> str:
    """The registry key for a path: no converters, no trailing slash, aliases folded."""
    path = _CONVERTER.sub(r"{\1}", path).rstrip("/") or "/"
    for alias, target in _ALIASES.items():
        if path.startswith(alias):
            path = target + path[len(alias) :]
    return path


RULES = _parse(_TABLE)


def rule_for(method: str, path: str) -> Rule:
    """The declared rule of one operation; `UndeclaredRoute` if there is none."""
    try:
        return RULES[(method, normalize(path))]
    except KeyError:
        raise UndeclaredRoute(
            f"{method} {path} has no access rule in waza.gateway.access"
        ) from None


def _auth_dependency(dependant: Dependant) -> str | None:
    from waza.gateway import deps

    found: set[str] = set()

    def walk(node: Dependant) -> None:
        for sub in node.dependencies:
            if sub.call is deps.require_admin:
                found.add("admin")
            elif sub.call is deps.current_principal:
                found.add("user")
            elif sub.call is deps.current_reader:
                found.add("reader")
            walk(sub)

    walk(dependant)
    for level in ("admin", "user", "reader"):
        if level in found:
            return level
    return None


def _operations(app: FastAPI) -> Iterator[tuple[str, str, str, str | None, bool]]:
    """(method, path, path_format, auth dependency, in schema) of every API operation."""
    for context in iter_route_contexts(app.routes):
        if not isinstance(context.original_route, APIRoute):
            continue  # the OpenAPI document and the docs pages: public by design
        auth = _auth_dependency(context.dependant)
        path = str(context.path)
        fmt = str(context.path_format or path)
        for method in sorted(context.methods or ()):
            yield method, path, fmt, auth, bool(context.include_in_schema)


def route_rules(app: FastAPI) -> Iterator[RouteRule]:
    """Every API operation of `app` with its rule; raises `UndeclaredRoute` for a missing one."""
    for method, path, path_format, auth, in_schema in _operations(app):
        yield RouteRule(method, path, path_format, rule_for(method, path), auth, in_schema)


def audit(app: FastAPI, *, complete: bool = True) -> list[str]:
    """Every problem with the rules of `app`'s routes: undeclared routes, rules that contradict a
    route's dependencies and (with `complete`, for the whole platform app) rules for routes that
    do not exist."""
    problems: list[str] = []
    seen: set[tuple[str, str]] = set()
    for method, path, path_format, auth, in_schema in _operations(app):
        try:
            rule = RouteRule(method, path, path_format, rule_for(method, path), auth, in_schema)
        except UndeclaredRoute as exc:
            problems.append(str(exc))
            continue
        seen.add((method, normalize(path)))
        if why := inconsistencies(rule):
            problems.append(f"{method} {path}: {why}")
    if complete:
        problems += [
            f"{m} {p}: a rule for a route that does not exist" for m, p in RULES.keys() - seen
        ]
    return problems


def inconsistencies(rule: RouteRule) -> str | None:
    """Why a declared rule contradicts the route's dependencies, or None when they agree."""
    access, auth = rule.rule.access, rule.auth_dependency
    if access is Access.ADMIN and auth != "admin":
        return "declared admin but does not depend on AdminUser"
    if auth == "admin" and access is not Access.ADMIN:
        return f"depends on AdminUser but declared {access}"
    if access in (Access.PUBLIC, Access.SELF) and auth is not None:
        return f"declared {access} but requires a token ({auth})"
    if access in (Access.USER, Access.OWNER) and auth is None:
        return f"declared {access} but has no auth dependency"
    return None
