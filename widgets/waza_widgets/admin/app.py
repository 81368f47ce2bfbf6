"""The admin dashboard: a Panel app over `waza.client.Client`, one per browser session.

Tabs: users (create, disable, reset password, make admin), tokens of every user (revoke),
deployments of every user (stop), cluster use over time (CPU, memory, GPU charts), the audit
log (filters, CSV export), App Garden templates. Every action goes through the client as the
signed-in admin, so the platform checks the rights again and audits the call.
"""

from __future__ import annotations

import io
import secrets
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pandas as pd
import panel as pn
from bokeh.models import ColumnDataSource, Range1d
from bokeh.plotting import figure

from waza.client import Client
from waza.services.cluster.schemas import HostMetrics
from waza_widgets._base import describe

SAMPLES = 300  # points kept on the cluster charts (10 minutes at 2 s)


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns)


class AdminDashboard:
    """Build with a client acting as an admin; ``view`` is the Panel layout to serve.

    ``refresh_*`` reload a tab; the action methods (``create_user`` …) are what the buttons
    call, so Python code and tests can drive the dashboard as a browser would.
    """

    def __init__(self, client: Client, *, interval_ms: int = 2000) -> None:
        self.client = client
        self.me = client.auth.me()
        self.samples: deque[HostMetrics] = deque(maxlen=SAMPLES)
        self.status = pn.pane.Alert("", alert_type="light", visible=False, name="status")
        self.status.css_classes = ["waza-admin-status"]

        # users
        self.users = pn.widgets.Tabulator(
            _frame([], ["username", "full name", "email", "roles", "active", "id"]),
            selectable=1, disabled=True, show_index=False, height=300, sizing_mode="stretch_width",
            css_classes=["waza-admin-users"],
        )  # fmt: skip
        self.new_username = pn.widgets.TextInput(label="Username", placeholder="new user")
        self.new_password = pn.widgets.PasswordInput(label="Password", placeholder="8+ characters")
        self.new_admin = pn.widgets.Checkbox(label="admin")
        self.create_button = pn.widgets.Button(label="Create user", button_type="primary")
        self.toggle_button = pn.widgets.Button(label="Disable / enable selected")
        self.reset_password = pn.widgets.PasswordInput(label="New password for the selected user")
        self.reset_button = pn.widgets.Button(label="Reset password")
        self.admin_button = pn.widgets.Button(label="Make admin / remove admin")
        self.create_button.on_click(self._act(self.create_user))
        self.toggle_button.on_click(self._act(self.toggle_active))
        self.reset_button.on_click(self._act(self.reset_selected_password))
        self.admin_button.on_click(self._act(self.toggle_admin))

        # tokens
        self.tokens = pn.widgets.Tabulator(
            _frame([], ["owner", "name", "scope", "expires", "revoked", "jti"]),
            selectable=1, disabled=True, show_index=False, height=300, sizing_mode="stretch_width",
        )  # fmt: skip
        self.revoke_button = pn.widgets.Button(label="Revoke selected", button_type="danger")
        self.revoke_button.on_click(self._act(self.revoke_selected))

        # deployments
        self.deployments = pn.widgets.Tabulator(
            _frame([], ["model", "status", "owner", "engine", "requested", "id"]),
            selectable=1, disabled=True, show_index=False, height=300, sizing_mode="stretch_width",
        )  # fmt: skip
        self.stop_button = pn.widgets.Button(label="Stop selected", button_type="danger")
        self.stop_button.on_click(self._act(self.stop_selected))

        # cluster
        self.use_source = ColumnDataSource({"t": [], "cpu": [], "memory": [], "gpu": []})
        self.cpu_chart = figure(
            title="CPU and memory use (%)", x_axis_type="datetime", height=260,
            sizing_mode="stretch_width", y_range=Range1d(start=0, end=100), tools="",
        )  # fmt: skip
        self.cpu_chart.line("t", "cpu", source=self.use_source, legend_label="CPU", line_width=2)
        self.cpu_chart.line(
            "t", "memory", source=self.use_source, legend_label="memory", color="purple",
            line_width=2,
        )  # fmt: skip
        self.gpu_chart = figure(
            title="GPU use (%)", x_axis_type="datetime", height=200,
            sizing_mode="stretch_width", y_range=Range1d(start=0, end=100), tools="",
        )  # fmt: skip
        self.gpu_chart.line("t", "gpu", source=self.use_source, color="green", line_width=2)
        self.cluster_summary = pn.pane.HTML("", css_classes=["waza-admin-cluster"])
        self.nodes = pn.widgets.Tabulator(
            _frame([], ["node", "active", "last seen"]), disabled=True, show_index=False,
            sizing_mode="stretch_width",
        )  # fmt: skip

        # activity
        self.module = pn.widgets.Select(label="Module", options=["(all)"])
        self.outcome = pn.widgets.Select(
            label="Outcome", options=["(all)", "success", "denied", "failure", "error"]
        )
        self.user_filter = pn.widgets.TextInput(label="User id", placeholder="any")
        self.limit = pn.widgets.IntInput(label="Rows", value=500, start=1, end=5000)
        self.activity = pn.widgets.Tabulator(
            _frame([], ["when", "user", "module", "action", "object", "status", "outcome"]),
            disabled=True, show_index=False, height=350, sizing_mode="stretch_width",
            pagination="local", page_size=50,
        )  # fmt: skip
        self.filter_button = pn.widgets.Button(label="Apply filters", button_type="primary")
        self.filter_button.on_click(self._act(self.refresh_activity))
        self.csv = pn.widgets.FileDownload(
            callback=self.activity_csv, filename="waza-audit.csv", label="Export CSV"
        )

        # App Garden
        self.templates = pn.widgets.Tabulator(
            _frame([], ["name", "version", "type", "risk tier", "verified", "source"]),
            disabled=True, show_index=False, sizing_mode="stretch_width",
        )  # fmt: skip

        self.refresh_all()
        self.sample()
        self.view = self._layout()
        self._interval_ms = interval_ms

    # ---- layout ---------------------------------------------------------------------------------
    def _layout(self) -> pn.viewable.Viewable:
        refresh = pn.widgets.Button(label="Reload", icon="refresh")
        refresh.on_click(self._act(lambda: self.refresh_all()))
        users_tab = pn.Column(
            self.users,
            pn.Row(self.new_username, self.new_password, self.new_admin, self.create_button),
            pn.Row(self.toggle_button, self.admin_button),
            pn.Row(self.reset_password, self.reset_button),
            name="Users",
        )
        return pn.Column(
            pn.Row(
                pn.pane.HTML(
                    "<h2 style='margin:0'>waza admin</h2>", css_classes=["waza-admin-title"]
                ),
                pn.pane.HTML(
                    f"signed in as <b>{self.me.username}</b> · <a href='/hub/admin'>hub admin</a>"
                    " · <a href='/hub/home'>hub home</a>"
                ),
                refresh,
            ),
            self.status,
            pn.Tabs(
                users_tab,
                pn.Column(self.tokens, self.revoke_button, name="Tokens"),
                pn.Column(self.deployments, self.stop_button, name="Deployments"),
                pn.Column(
                    self.cluster_summary,
                    pn.pane.Bokeh(self.cpu_chart, sizing_mode="stretch_width"),
                    pn.pane.Bokeh(self.gpu_chart, sizing_mode="stretch_width"),
                    self.nodes,
                    name="Cluster",
                ),
                pn.Column(
                    pn.Row(self.module, self.outcome, self.user_filter, self.limit),
                    pn.Row(self.filter_button, self.csv),
                    self.activity,
                    name="Activity",
                ),
                pn.Column(self.templates, name="App Garden"),
                dynamic=False,
            ),
            sizing_mode="stretch_width",
        )

    def start_live(self) -> None:
        """Sample the cluster every ``interval_ms`` while the browser session lives."""
        pn.state.add_periodic_callback(self._sample_quietly, period=self._interval_ms)

    # ---- messages -------------------------------------------------------------------------------
    def say(self, text: str, kind: Any = "success") -> None:
        self.status.object = text
        self.status.alert_type = kind
        self.status.visible = True

    def _act(self, action: Callable[[], Any]) -> Callable[[Any], None]:
        """A button callback: errors become the status line, never a traceback."""

        def run(_: Any = None) -> None:
            try:
                action()
            except Exception as exc:
                self.say(describe(exc), "danger")

        return run

    def _selected(self, table: pn.widgets.Tabulator, what: str) -> dict[str, Any]:
        if not table.selection:
            raise LookupError(f"select a {what} first")
        row: dict[str, Any] = table.value.iloc[table.selection[0]].to_dict()
        return row

    # ---- data -----------------------------------------------------------------------------------
    def refresh_all(self) -> None:
        for load in (
            self.refresh_users,
            self.refresh_tokens,
            self.refresh_deployments,
            self.refresh_nodes,
            self.refresh_activity,
            self.refresh_templates,
        ):
            try:
                load()
            except Exception as exc:
                self.say(describe(exc), "danger")

    def refresh_users(self) -> None:
        rows = [
            {
                "username": u.username,
                "full name": u.full_name or "",
                "email": u.email or "",
                "roles": ", ".join(u.roles),
                "active": u.active,
                "id": str(u.id),
            }
            for u in self.client.auth.list_users()
        ]
        self.users.value = _frame(rows, list(self.users.value.columns))

    def refresh_tokens(self) -> None:
        rows = [
            {
                "owner": t.owner_username or t.owner_id,
                "name": t.name or "",
                "scope": t.scope or "",
                "expires": datetime.fromtimestamp(t.exp).isoformat(" ", "seconds") if t.exp else "",
                "revoked": t.revoked,
                "jti": t.jti,
            }
            for t in self.client.auth.list_tokens(all_users=True)
        ]
        self.tokens.value = _frame(rows, list(self.tokens.value.columns))

    def refresh_deployments(self) -> None:
        names = {str(u.id): u.username for u in self.client.auth.list_users()}
        rows = [
            {
                "model": d.m_name,
                "status": d.status,
                "owner": names.get(str(d.owner_id), str(d.owner_id)),
                "engine": d.engine_name,
                "requested": d.requested_at.isoformat(" ", "seconds"),
                "id": str(d.id),
            }
            for d in self.client.serving.list()
        ]
        self.deployments.value = _frame(rows, list(self.deployments.value.columns))

    def refresh_nodes(self) -> None:
        rows = [
            {
                "node": n.hostname or str(n.id),
                "active": n.active,
                "last seen": n.last_seen.isoformat(" ", "seconds") if n.last_seen else "",
            }
            for n in self.client.cluster.nodes()
        ]
        self.nodes.value = _frame(rows, ["node", "active", "last seen"])

    def refresh_activity(self) -> None:
        module = None if self.module.value == "(all)" else self.module.value
        outcome = None if self.outcome.value == "(all)" else self.outcome.value
        events = self.client.activity.recent(
            limit=int(self.limit.value or 500),
            module=module,
            outcome=outcome,
            user_id=(self.user_filter.value or "").strip() or None,
        )
        rows = [
            {
                "when": a.created_at.isoformat(" ", "seconds"),
                "user": a.username or a.user_id or "",
                "module": a.module,
                "action": a.action,
                "object": a.object_id or "",
                "status": a.status_code,
                "outcome": a.outcome,
            }
            for a in events
        ]
        self.activity.value = _frame(rows, list(self.activity.value.columns))
        if module is None:
            self.module.options = ["(all)", *sorted({a.module for a in events})]

    def activity_csv(self) -> io.StringIO:
        """The activity rows shown, as CSV (the Export button)."""
        buffer = io.StringIO()
        self.activity.value.to_csv(buffer, index=False)
        buffer.seek(0)
        return buffer

    def refresh_templates(self) -> None:
        apps = getattr(self.client, "apps", None)
        if apps is None:
            return
        rows = [
            {
                "name": t.display_name or t.name,
                "version": t.version,
                "type": t.template_type,
                "risk tier": t.risk_tier,
                "verified": t.verified,
                "source": t.source_type,
            }
            for t in apps.templates()
        ]
        self.templates.value = _frame(rows, list(self.templates.value.columns))

    def sample(self) -> HostMetrics:
        """One cluster sample onto the charts."""
        m = self.client.cluster.metrics()
        self.samples.append(m)
        gpu = sum(g.utilization_pct or 0 for g in m.gpus) / len(m.gpus) if m.gpus else 0.0
        self.use_source.stream(
            {
                "t": [m.at.replace(tzinfo=None)],
                "cpu": [m.cpu_percent],
                "memory": [m.memory_percent],
                "gpu": [gpu],
            },
            rollover=SAMPLES,
        )
        gpus = ", ".join(
            f"GPU {g.index} {g.utilization_pct or 0}% ({g.memory_used_mib or 0}/"
            f"{g.memory_total_mib or 0} MiB)"
            for g in m.gpus
        )
        self.cluster_summary.object = (
            f"<b>{m.hostname}</b>: CPU {m.cpu_percent:.0f}% of {m.cpu_count}, memory "
            f"{m.memory_percent:.0f}% of {m.memory_total / 2**30:.1f} GiB"
            + (f", {gpus}" if gpus else ", no GPU")
            + f" · {len(self.samples)} samples"
        )
        return m

    def _sample_quietly(self) -> None:
        try:
            self.sample()
        except Exception as exc:
            self.say(describe(exc), "warning")

    # ---- actions --------------------------------------------------------------------------------
    def create_user(self) -> None:
        name = (self.new_username.value or "").strip()
        password = self.new_password.value or secrets.token_urlsafe(12)
        user = self.client.auth.create_user(name, password, admin=bool(self.new_admin.value))
        self.new_username.value = self.new_password.value = ""
        self.refresh_users()
        self.say(f"Created {user.username}.")

    def toggle_active(self) -> None:
        row = self._selected(self.users, "user")
        user = self.client.auth.update_user(row["id"], active=not row["active"])
        self.refresh_users()
        self.say(f"{user.username} is now {'enabled' if user.active else 'disabled'}.")

    def reset_selected_password(self) -> None:
        row = self._selected(self.users, "user")
        if not self.reset_password.value:
            raise ValueError("type the new password first")
        self.client.auth.reset_password(row["id"], self.reset_password.value)
        self.reset_password.value = ""
        self.say(f"Password of {row['username']} reset.")

    def toggle_admin(self) -> None:
        row = self._selected(self.users, "user")
        roles = [r.strip() for r in str(row["roles"]).split(",") if r.strip()]
        roles = [r for r in roles if r != "admin"] if "admin" in roles else [*roles, "admin"]
        user = self.client.auth.update_user(row["id"], roles=roles or ["user"])
        self.refresh_users()
        self.say(f"{user.username}: roles {', '.join(user.roles)}.")

    def revoke_selected(self) -> None:
        row = self._selected(self.tokens, "token")
        self.client.auth.revoke_token(row["jti"])
        self.refresh_tokens()
        self.say(f"Token {row['name'] or row['jti']} of {row['owner']} revoked.")

    def stop_selected(self) -> None:
        row = self._selected(self.deployments, "deployment")
        self.client.serving.stop(row["id"])
        self.refresh_deployments()
        self.say(f"Stopping {row['model']} ({row['id'][:8]}).")
