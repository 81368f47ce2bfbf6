"""What an app is given: the model deployment it talks to, its server files checked, and the
`Launch` a runtime starts it from (template variables substituted, the platform's environment
added last so that it cannot be overridden)."""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
from pathlib import Path

from waza.errors import BadRequest
from waza.gateway.principal import Principal
from waza.services.apps.infra import AppsInfra
from waza.services.apps.models import AppDeployment
from waza.services.apps.routing import app_path
from waza.services.apps.runtimes.base import Launch
from waza.services.apps.spec import parse_template
from waza.services.apps.variables import MODEL_SELECTOR, substitute

PROCESS_ENV_PASSTHROUGH = ("LANG", "LC_ALL", "TZ", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")


def resolve_model(infra: AppsInfra, principal: Principal, selector: str | None) -> uuid.UUID:
    """The DEPLOYED model deployment an app talks to: by id, by model name, or the caller's
    newest chat deployment."""
    serving = infra.serving
    deployments = [
        d
        for d in serving.list_deployments(principal)
        if d.status == "DEPLOYED" and d.engine_name != "embedding"
    ]
    if selector:
        with contextlib.suppress(ValueError):
            wanted = uuid.UUID(selector)
            for dep in serving.list_deployments(principal):
                if dep.id == wanted:
                    if dep.status != "DEPLOYED":
                        raise BadRequest(
                            f"Model deployment {selector} is {dep.status}, not DEPLOYED"
                        )
                    return dep.id
            raise BadRequest(f"No model deployment {selector} that you can use")
        for dep in deployments:
            if dep.m_name == selector or selector.lower() in dep.m_name.lower():
                return dep.id
        raise BadRequest(f"No DEPLOYED model deployment of a model named {selector!r}")
    if not deployments:
        raise BadRequest(
            "This app needs a deployed chat model and none is DEPLOYED: deploy one, or pass "
            f"env_vars {{'{MODEL_SELECTOR}': '<deployment id or model name>'}}"
        )
    return deployments[0].id


def check_paths(
    infra: AppsInfra, principal: Principal, keys: list[str], env: dict[str, str]
) -> None:
    """Each env value named in ``keys`` is a file the caller may read (as ingestion checks)."""
    from waza.services.ingestion.paths import resolve_path

    for key in keys:
        value = env.get(key, "").strip()
        if not value:
            raise BadRequest(f"{key} is required: an absolute path on the server")
        path = resolve_path(infra.settings, principal, value)
        if not path.is_file():
            raise BadRequest(f"{key}={value} is not a file")


def build_launch(infra: AppsInfra, dep: AppDeployment, token: str) -> Launch:
    """The runtime's instructions for this deployment, with the app's own ``token``."""
    spec = parse_template(dep.compose_yml)
    path = app_path(str(dep.id))
    public_url, internal_url = infra.public_url, infra.internal_url
    values = {"app_path": path, "app_path_url": public_url + path}
    if dep.model_deployment_id is not None:
        runtime_path = f"/runtime/models/{dep.model_deployment_id}"
        values.update(
            openai_base_url=f"{internal_url}{runtime_path}/v1",
            openai_path_base_url=f"{public_url}{runtime_path}/v1",
            model_path_url=f"{public_url}{runtime_path}",
        )
    declared = {**spec.environment, **dep.spec.get("env_defaults", {}), **dep.env_vars}
    env = {k: substitute(v, values) for k, v in declared.items()}
    workdir = infra.settings.home / "apps" / str(dep.id)
    venv_bin = str(Path(sys.executable).parent)
    base = {k: os.environ[k] for k in PROCESS_ENV_PASSTHROUGH if k in os.environ}
    base.update(
        PATH=f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        HOME=str(workdir),
        PYTHONUNBUFFERED="1",
    )
    platform = {
        "WAZA_APP_ID": str(dep.id),
        "WAZA_APP_NAME": dep.name,
        "WAZA_APP_PATH": path,
        "WAZA_APP_URL": values["app_path_url"],
        "APP_PATH": path,
        "APP_URL": values["app_path_url"],
        "WAZA_API_URL": internal_url + "/api",
        "WAZA_API_KEY": token,
        "OPENAI_API_KEY": token,
    }
    if dep.model_deployment_id is not None:
        platform["OPENAI_BASE_URL"] = values["openai_base_url"]
        platform["WAZA_MODEL_DEPLOYMENT_ID"] = str(dep.model_deployment_id)
    if spec.process is not None:
        for key in ("app", "file", "health_path"):
            raw = getattr(spec.process, key)
            if raw:
                setattr(spec.process, key, substitute(raw, values))
        spec.process.command = [substitute(a, values) for a in spec.process.command]
    return Launch(
        deployment_id=str(dep.id),
        name=infra.runtime_name(dep.id),
        env={**base, **env, **platform},
        app_path=path,
        public_origin=public_url,
        workdir=workdir,
        log_path=infra.log_path(dep.id),
        start_timeout=infra.settings.apps_start_timeout,
        process=spec.process,
        services=spec.services,
        strip_path_prefix=bool(dep.spec.get("strip_path_prefix")),
    )
