"""`DeployPanel`: deploy a model, follow its lifecycle, read its logs, stop it."""

from __future__ import annotations

import time
import uuid
from typing import Any

import ipywidgets as w

from waza.client import Client, DeploymentFailed
from waza.services.serving import schemas
from waza_widgets._base import WazaWidget, badge, esc, fill

ENGINES = [("auto", "")] + [(e, e) for e in ("transformers", "llamacpp", "embedding", "vllm")]
# Lifecycle steps shown on the progress bar.
STEPS = {"REQUESTED": 1, "DEPLOYING": 2, "INITIALIZING": 3, "DEPLOYED": 4}


class DeployPanel(WazaWidget):
    """Deploy a registered model on Ray Serve and watch it come up.

        from waza_widgets import DeployPanel
        DeployPanel()                                  # pick a model, press Deploy
        DeployPanel(model="tiny-random-chat")          # preselect by name (or id)
        DeployPanel(deployment_id=dep_id)              # follow an existing deployment

    The status line goes REQUESTED → DEPLOYING → INITIALIZING → DEPLOYED, or FAILED/ERROR
    with the platform's error code and reason. ``deployment`` holds the last state read,
    ``deploy_seconds`` the time from the click to DEPLOYED shown.
    """

    title = "Deploy a model"

    def __init__(
        self,
        client: Client | None = None,
        *,
        model: str | None = None,
        deployment_id: uuid.UUID | str | None = None,
        timeout: float = 600.0,
        poll: float = 0.25,
    ) -> None:
        super().__init__(client)
        self.timeout, self.poll = timeout, poll
        self.deployment: schemas.UIModelDeployment | None = None
        self.deployment_id: uuid.UUID | None = None
        self.deploy_seconds: float | None = None
        self.model = w.Dropdown(options=[], description="Model")
        self.engine = w.Dropdown(options=ENGINES, value="", description="Engine")
        self.replicas = w.BoundedIntText(value=1, min=1, max=64, description="Replicas")
        self.cpus = w.BoundedFloatText(
            value=0, min=0, max=256, step=0.5, description="CPU", tooltip="0: engine default"
        )
        self.gpus = w.BoundedFloatText(
            value=0, min=0, max=64, step=0.25, description="GPU", tooltip="0: none"
        )
        self.deploy_button = w.Button(description="Deploy", icon="rocket", button_style="primary")
        self.stop_button = w.Button(description="Stop", icon="stop", disabled=True)
        self.logs_button = w.Button(description="Logs", icon="list", disabled=True)
        self.refresh_button = w.Button(description="", icon="refresh", tooltip="Reload models")
        self.progress = w.IntProgress(value=0, min=0, max=len(STEPS), description="")
        self.status = w.HTML(badge(None, "not deployed"))
        self.logs = w.Textarea(
            value="", rows=8, disabled=True, layout=w.Layout(width="100%", display="none")
        )
        self.deploy_button.on_click(self.safely(lambda _: self.deploy()))
        self.stop_button.on_click(self.safely(lambda _: self.stop()))
        self.logs_button.on_click(self.safely(lambda _: self.load_logs()))
        self.refresh_button.on_click(self.safely(lambda _: self.load_models()))
        self.children = [
            self.header,
            w.HBox([self.model, self.refresh_button]),
            w.HBox([self.engine, self.replicas]),
            w.HBox([self.cpus, self.gpus]),
            w.HBox([self.deploy_button, self.stop_button, self.logs_button, self.progress]),
            self.status,
            self.logs,
            self.message,
        ]
        with self.guard():
            self.load_models(model)
            if deployment_id is not None:
                self.attach(deployment_id)

    # ---- models ---------------------------------------------------------------------------------
    def load_models(self, select: str | None = None) -> None:
        """Fill the model list from the registry; ``select`` a model by name or id."""
        models = self.client.models.list_models()
        chosen = None
        if select:
            chosen = next((str(m.id) for m in models if select in (m.name, str(m.id))), None)
            if chosen is None:
                raise LookupError(f"no registered model named {select!r}")
        fill(self.model, [(m.name, str(m.id)) for m in models if m.id], chosen)
        if not models:
            self.show_info("No models registered yet: import one with ModelBrowser.")

    # ---- deploy ---------------------------------------------------------------------------------
    def deploy(self) -> None:
        """Ask for a deployment with the chosen options and follow it in the background."""
        if not self.model.value:
            self.show_error("Choose a model first.")
            return
        if self.busy:
            self.show_error("A deployment is already being followed: wait for it or stop it.")
            return
        clicked = time.perf_counter()
        self.clear_message()
        self.deploy_seconds = None
        options: dict[str, Any] = {
            "starting_copies": self.replicas.value,
            "min_copies": self.replicas.value,
        }
        if self.cpus.value:
            options["cpu_allocation"] = self.cpus.value
        if self.gpus.value:
            options["gpu_allocation"] = self.gpus.value
        dep_id = self.client.serving.deploy(
            self.model.value, engine=self.engine.value or None, **options
        )
        self.deployment_id = dep_id
        self.deploy_button.disabled = True
        self.stop_button.disabled = False
        self.logs_button.disabled = False
        self.progress.value = STEPS["REQUESTED"]
        self.progress.bar_style = "info"
        self.status.value = badge("REQUESTED") + f" <code>{esc(dep_id)}</code>"
        self.run_in_background(lambda: self._follow(dep_id, clicked))

    def attach(self, deployment_id: uuid.UUID | str) -> None:
        """Show an existing deployment (followed until it settles)."""
        self.deployment_id = uuid.UUID(str(deployment_id))
        self._show(self.client.serving.get(self.deployment_id))
        self.stop_button.disabled = False
        self.logs_button.disabled = False
        if self.deployment and self.deployment.status in STEPS and not self.ready:
            self.deploy_button.disabled = True
            self.run_in_background(lambda: self._follow(self.deployment_id, None))

    def _follow(self, dep_id: uuid.UUID | None, clicked: float | None) -> None:
        assert dep_id is not None
        try:
            self.client.serving.wait(dep_id, self.timeout, poll=self.poll, on_status=self._show)
            if clicked is not None:
                self.deploy_seconds = time.perf_counter() - clicked
                took = f" <span class='waza-took'>in {self.deploy_seconds:.1f} s</span>"
                self.status.value += took
        except DeploymentFailed as exc:
            self._show(exc.deployment)
            if exc.deployment.status not in ("STOPPING", "STOPPED"):  # not a stop we asked for
                self.show_error(f"[{exc.code}] {exc.reason}")
                self.load_logs()
        finally:
            self.deploy_button.disabled = False

    def _show(self, dep: schemas.UIModelDeployment) -> None:
        self.deployment = dep
        step = STEPS.get(dep.status)
        if step is not None:
            self.progress.value = step
        styles = {"DEPLOYED": "success", "FAILED": "danger", "ERROR": "danger"}
        self.progress.bar_style = styles.get(dep.status, "info" if step else "")
        line = f"{badge(dep.status)} <b>{esc(dep.m_name)}</b> · {esc(dep.engine_name)}"
        line += f" · <code>{esc(dep.id)}</code>"
        if dep.status == "DEPLOYED":
            url = self.client.serving.runtime_url(dep.id)
            line += f"<br>OpenAI endpoint: <code>{esc(url)}</code>"
        if dep.last_error_code:
            line += (
                f"<br><span class='waza-error-code'>[{esc(dep.last_error_code)}]</span> "
                f"{esc(dep.last_error_message or '')}"
            )
        self.status.value = line

    @property
    def ready(self) -> bool:
        return self.deployment is not None and self.deployment.status == "DEPLOYED"

    # ---- logs and stop --------------------------------------------------------------------------
    def load_logs(self) -> None:
        """Show the deployment's lifecycle events and recent replica lines."""
        if self.deployment_id is None:
            return
        logs = self.client.serving.logs(self.deployment_id)
        self.logs.value = "\n".join(logs.logs[-200:]) or "(no log lines yet)"
        self.logs.layout.display = ""

    def stop(self, force: bool = False) -> None:
        """Stop the deployment shown."""
        if self.deployment_id is None:
            return
        self.client.serving.stop(self.deployment_id, force=force)
        self._show(self.client.serving.get(self.deployment_id))
        self.stop_button.disabled = True
        self.deploy_button.disabled = False
        self.progress.value = 0
