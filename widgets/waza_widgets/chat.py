"""`ChatPlayground`: chat with a deployment, the answer streamed as it is generated."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import ipywidgets as w

from waza.client import Client
from waza.client.serving import ChatStream
from waza_widgets._base import WazaWidget, esc, fill


class ChatPlayground(WazaWidget):
    """A chat with one DEPLOYED deployment, over its OpenAI-compatible runtime.

        from waza_widgets import ChatPlayground
        ChatPlayground()                         # pick a deployment, type, press Send
        ChatPlayground(deployment_id=dep_id)

    The answer appears piece by piece as the model streams it; **Stop** ends generation on the
    server. The stats line shows time to first token and tokens per second (completion tokens
    counted by the runtime, over the time from the first piece to the end). ``history`` is the
    conversation so far; ``last`` the last answer's `ChatStream`.
    """

    title = "Chat"

    def __init__(
        self,
        client: Client | None = None,
        *,
        deployment_id: uuid.UUID | str | None = None,
        system: str = "You are a helpful assistant.",
        temperature: float = 0.7,
        max_tokens: int = 256,
    ) -> None:
        super().__init__(client)
        self.history: list[dict[str, str]] = []
        self.last: ChatStream | None = None
        self.updates = 0  # transcript refreshes during the last answer (streaming shows > 1)
        self._stop = threading.Event()
        self.deployment = w.Dropdown(options=[], description="Model")
        self.refresh_button = w.Button(description="", icon="refresh", tooltip="Reload")
        self.system = w.Textarea(value=system, rows=2, description="System")
        self.temperature = w.FloatSlider(
            value=temperature, min=0.0, max=2.0, step=0.05, description="Temperature"
        )
        self.max_tokens = w.IntSlider(value=max_tokens, min=1, max=4096, description="Max tokens")
        self.transcript = w.HTML("", layout=w.Layout(width="100%"))
        self.prompt = w.Textarea(
            placeholder="Ask something…", rows=3, layout=w.Layout(width="100%")
        )
        self.send_button = w.Button(description="Send", icon="paper-plane", button_style="primary")
        self.stop_button = w.Button(description="Stop", icon="stop", disabled=True)
        self.clear_button = w.Button(description="Clear", icon="eraser")
        self.stats = w.HTML("")
        self.stats.add_class("waza-chat-stats")
        self.send_button.on_click(self.safely(lambda _: self.ask()))
        self.stop_button.on_click(lambda _: self.stop())
        self.clear_button.on_click(lambda _: self.clear())
        self.refresh_button.on_click(self.safely(lambda _: self.load_deployments()))
        self.children = [
            self.header,
            w.HBox([self.deployment, self.refresh_button]),
            self.system,
            w.HBox([self.temperature, self.max_tokens]),
            self.transcript,
            self.prompt,
            w.HBox([self.send_button, self.stop_button, self.clear_button]),
            self.stats,
            self.message,
        ]
        with self.guard():
            self.load_deployments(deployment_id)

    def load_deployments(self, select: uuid.UUID | str | None = None) -> None:
        """List the DEPLOYED deployments you may use."""
        deployments = [d for d in self.client.serving.list() if d.status == "DEPLOYED"]
        if select is not None and str(select) not in {str(d.id) for d in deployments}:
            raise LookupError(f"deployment {select} is not DEPLOYED (or not yours)")
        options = [(f"{d.m_name} · {str(d.id)[:8]}", str(d.id)) for d in deployments]
        fill(self.deployment, options, str(select) if select is not None else None)
        if not deployments:
            self.show_info("No DEPLOYED model yet: start one with DeployPanel.")

    # ---- chat -----------------------------------------------------------------------------------
    def ask(self, text: str | None = None) -> None:
        """Send the prompt (or ``text``) and stream the answer in the background."""
        prompt = (text if text is not None else self.prompt.value).strip()
        if not prompt:
            self.show_error("Type a message first.")
            return
        if not self.deployment.value:
            self.show_error("Choose a DEPLOYED model first (or press the refresh button).")
            return
        if self.busy:
            self.show_error("Still answering: wait or press Stop.")
            return
        self.clear_message()
        self._stop.clear()
        self.history.append({"role": "user", "content": prompt})
        self.prompt.value = ""
        self.send_button.disabled = True
        self.stop_button.disabled = False
        self.run_in_background(lambda: self._answer(str(self.deployment.value)))

    def _answer(self, dep_id: str) -> None:
        sampling: dict[str, Any] = {
            "temperature": self.temperature.value,
            "max_tokens": self.max_tokens.value,
        }
        stream = self.client.serving.chat_stream(
            dep_id, self.history, system=self.system.value.strip() or None, **sampling
        )
        self.last = stream
        self.updates = 0
        self.stats.value = "<i>waiting for the first token…</i>"
        try:
            for _ in stream:
                self._render(stream.text, streaming=True)
                self.updates += 1
                if self._stop.is_set():
                    stream.close()
                    break
        finally:
            self.send_button.disabled = False
            self.stop_button.disabled = True
            if stream.text:
                self.history.append({"role": "assistant", "content": stream.text})
            self._render("", streaming=False)
            self._show_stats(stream, stopped=self._stop.is_set())

    def stop(self) -> None:
        """Stop the answer being generated."""
        self._stop.set()

    def clear(self) -> None:
        """Forget the conversation."""
        self.history = []
        self.transcript.value = ""
        self.stats.value = ""

    # ---- rendering ------------------------------------------------------------------------------
    def _render(self, partial: str, *, streaming: bool) -> None:
        rows = []
        for message in self.history:
            who = "You" if message["role"] == "user" else "Model"
            rows.append(
                f"<div class='waza-msg waza-{message['role']}'><b>{who}:</b> "
                f"<span style='white-space:pre-wrap'>{esc(message['content'])}</span></div>"
            )
        if streaming:
            rows.append(
                "<div class='waza-msg waza-assistant waza-streaming'><b>Model:</b> "
                f"<span style='white-space:pre-wrap'>{esc(partial)}</span>&#9646;</div>"
            )
        self.transcript.value = "".join(rows)

    def _show_stats(self, stream: ChatStream, *, stopped: bool) -> None:
        parts = []
        if stream.ttft is not None:
            parts.append(f"time to first token <b>{stream.ttft * 1000:.0f} ms</b>")
        if stream.tokens_per_s is not None:
            parts.append(f"<b>{stream.tokens_per_s:.1f} tokens/s</b>")
        if stream.completion_tokens is not None:
            parts.append(f"{stream.completion_tokens} tokens")
        if stopped:
            parts.append("stopped")
        if stream.started is not None and stream.finished is not None:
            parts.append(f"{stream.finished - stream.started:.2f} s in all")
        self.stats.value = " · ".join(parts) or "<i>no answer</i>"
