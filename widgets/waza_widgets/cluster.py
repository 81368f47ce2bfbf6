"""`ClusterMonitor`: nodes, and CPU / memory / GPU use as live-updating charts."""

from __future__ import annotations

import threading
from collections import deque
from datetime import datetime

import bqplot as bq
import ipywidgets as w
import numpy as np

from waza.client import Client
from waza.services.cluster.schemas import HostMetrics
from waza_widgets._base import WazaWidget, esc, human_bytes, table

COLOURS = ["#0969da", "#8250df", "#1a7f37", "#bf3989", "#9a6700", "#cf222e"]


def use_chart(title: str, series: list[str]) -> tuple[bq.Figure, bq.Lines]:
    """A 0-100 % line chart over time with one line per series."""
    x, y = bq.DateScale(), bq.LinearScale(min=0.0, max=100.0)
    lines = bq.Lines(
        x=[], y=[[] for _ in series], scales={"x": x, "y": y}, labels=series,
        colors=COLOURS[: len(series)], display_legend=True,
    )  # fmt: skip
    axes = [
        bq.Axis(scale=x, label="time", tick_format="%H:%M:%S", num_ticks=4),
        bq.Axis(scale=y, orientation="vertical", label="%", num_ticks=5),
    ]
    figure = bq.Figure(
        marks=[lines], axes=axes, title=title, animation_duration=0,
        fig_margin={"top": 40, "bottom": 40, "left": 50, "right": 20},
        layout=w.Layout(width="100%", height="260px"),
    )  # fmt: skip
    return figure, lines


class ClusterMonitor(WazaWidget):
    """The cluster's nodes and the platform machine's CPU, memory and GPU use, live.

        from waza_widgets import ClusterMonitor
        m = ClusterMonitor(interval=2)      # samples every 2 s while "Live" is on
        m.stop()                            # or untick Live

    ``samples`` holds the last ``keep`` samples (`HostMetrics`) the charts show.
    """

    title = "Cluster"

    def __init__(
        self,
        client: Client | None = None,
        *,
        interval: float = 2.0,
        keep: int = 150,
        live: bool = True,
    ) -> None:
        super().__init__(client)
        self.interval = interval
        self.samples: deque[HostMetrics] = deque(maxlen=keep)
        self._halt = threading.Event()
        self._poller: threading.Thread | None = None
        self.nodes = w.HTML("")
        self.summary = w.HTML("")
        self.live = w.ToggleButton(value=False, description="Live", icon="heartbeat")
        self.refresh_button = w.Button(description="", icon="refresh", tooltip="Sample now")
        self.cpu_chart, self.cpu_lines = use_chart("CPU and memory", ["CPU %", "memory %"])
        self.gpu_chart, self.gpu_lines = use_chart("GPU", ["GPU %"])
        self.gpu_chart.layout.display = "none"
        self.live.observe(lambda change: self.start() if change["new"] else self.stop(), "value")
        self.refresh_button.on_click(self.safely(lambda _: self.refresh()))
        self.children = [
            self.header,
            w.HBox([self.live, self.refresh_button]),
            self.summary,
            self.cpu_chart,
            self.gpu_chart,
            self.nodes,
            self.message,
        ]
        with self.guard():
            self.load_nodes()
            self.refresh()
        if live:
            self.live.value = True

    # ---- data -----------------------------------------------------------------------------------
    def load_nodes(self) -> None:
        """The node inventory, with Ray's view when Ray runs."""
        nodes = self.client.cluster.nodes()
        rows = []
        for node in nodes:
            hardware = node.hardware
            gpus = len(hardware.gpus or []) if hardware else 0
            cpus = (hardware.configuration or {}).get("cpu_count") if hardware else None
            seen = node.last_seen.strftime("%Y-%m-%d %H:%M:%S") if node.last_seen else "—"
            rows.append(
                (node.hostname or "—", "yes" if node.active else "no", cpus or "—", gpus, seen)
            )
        ray = ""
        try:
            status = self.client.serving.cluster_status()
            if status.status == "running":
                total, free = status.resources, status.available
                cpu_used = total.get("CPU", 0) - free.get("CPU", 0)
                gpu_used = total.get("GPU", 0) - free.get("GPU", 0)
                ray = (
                    f"<div class='waza-ray'>Ray at <code>{esc(status.address)}</code>: "
                    f"{cpu_used:g} of {total.get('CPU', 0):g} CPU and {gpu_used:g} of "
                    f"{total.get('GPU', 0):g} GPU reserved · "
                    f"{status.deployments_active} deployment(s)</div>"
                )
            else:
                ray = "<div class='waza-ray'>Ray is not running (it starts on the first deploy)."
                ray += "</div>"
        except Exception as exc:  # Ray's view is extra: the inventory still shows
            ray = f"<div class='waza-ray'>Ray: {esc(exc)}</div>"
        self.nodes.value = (
            table(["node", "active", "CPUs", "GPUs", "last seen"], rows, empty="no nodes") + ray
        )

    def refresh(self) -> HostMetrics:
        """Take one sample and redraw the charts."""
        sample = self.client.cluster.metrics()
        self.samples.append(sample)
        self._draw()
        return sample

    def _draw(self) -> None:
        samples = list(self.samples)
        if not samples:
            return
        times = np.array([s.at.replace(tzinfo=None) for s in samples], dtype="datetime64[ms]")
        with self.cpu_lines.hold_sync():
            self.cpu_lines.x = times
            self.cpu_lines.y = [
                [s.cpu_percent for s in samples],
                [s.memory_percent for s in samples],
            ]
        last = samples[-1]
        if last.gpus:
            self.gpu_chart.layout.display = ""
            labels = [f"GPU {g.index}" for g in last.gpus]
            with self.gpu_lines.hold_sync():
                self.gpu_lines.labels = labels
                self.gpu_lines.colors = COLOURS[: len(labels)]
                self.gpu_lines.x = times
                self.gpu_lines.y = [[_gpu_pct(s, g.index) for s in samples] for g in last.gpus]
        gpu_text = "".join(
            f" · GPU {g.index} {g.utilization_pct if g.utilization_pct is not None else '—'}% "
            f"({g.memory_used_mib or 0} / {g.memory_total_mib or 0} MiB)"
            for g in last.gpus
        )
        stamp = datetime.now().strftime("%H:%M:%S")
        self.summary.value = (
            f"<b>{esc(last.hostname)}</b> · CPU {last.cpu_percent:.0f}% of {last.cpu_count} · "
            f"memory {human_bytes(last.memory_used)} / {human_bytes(last.memory_total)} "
            f"({last.memory_percent:.0f}%){esc(gpu_text)} · {len(samples)} sample(s), last {stamp}"
        )

    # ---- live updates ---------------------------------------------------------------------------
    def start(self) -> None:
        """Sample every ``interval`` seconds in the background until `stop`."""
        if self._poller is not None and self._poller.is_alive():
            return
        self._halt.clear()
        self._poller = threading.Thread(target=self._poll, daemon=True, name="waza-cluster")
        self._poller.start()
        if not self.live.value:
            self.live.value = True

    def stop(self) -> None:
        """Stop sampling (the charts keep what they show)."""
        self._halt.set()
        if self._poller is not None and self._poller is not threading.current_thread():
            self._poller.join(timeout=self.interval + 5)
        if self.live.value:
            self.live.value = False

    def _poll(self) -> None:
        while not self._halt.wait(self.interval):
            try:
                self.refresh()
            except Exception as exc:
                self.show_error(exc)

    def close(self) -> None:
        self._halt.set()
        super().close()


def _gpu_pct(sample: HostMetrics, index: int) -> float:
    gpu = next((g for g in sample.gpus if g.index == index), None)
    return float(gpu.utilization_pct or 0) if gpu else 0.0
