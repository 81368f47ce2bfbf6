"""Structured logging (structlog over the standard library), console or JSON lines.

Records are written by one writer thread, not by the thread that logs: the logging call only
puts the record on a queue (the standard library's `QueueHandler` / `QueueListener`), and the
writer renders and writes it. So the event loop never waits on the log stream: not on a
slow or full pipe (a JupyterHub-managed service writes into the hub's), not on rendering.
Rendering happens in the writer, so a record's timestamp is taken when it is logged (structlog
stamps its own events at once; records of other libraries get theirs from ``record.created``).
The writer drains the queue when the process exits and when logging is configured again; a
forked child gets a writer of its own.
"""

from __future__ import annotations

import atexit
import logging
import logging.handlers
import os
import queue
import signal
import sys
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Any

import structlog


class _Enqueue(logging.handlers.QueueHandler):
    """Puts records on the writer's queue as they are: the writer's formatter renders them
    (`QueueHandler.prepare` would render here, and turn structlog's event dict into text)."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record


class _Writer:
    """The writer thread and its queue; `handler` is what loggers get."""

    def __init__(self, target: logging.Handler) -> None:
        self.target = target
        self.handler = _Enqueue(queue.SimpleQueue())
        self.start()

    def start(self) -> None:
        """A fresh queue and writer thread (also in a forked child, where the parent's thread
        does not exist and its queue may have been mid-use)."""
        self.handler.queue = queue.SimpleQueue()
        self.listener = logging.handlers.QueueListener(self.handler.queue, self.target)
        self.listener.start()
        self.running = True

    def stop(self) -> None:
        """Write what is queued, then end the thread (idempotent)."""
        if self.running:
            self.running = False
            self.listener.stop()  # the stream handler flushes after each record


_writer: _Writer | None = None


def _stop_writer() -> None:
    if _writer is not None:
        _writer.stop()


def _restart_writer_in_child() -> None:
    if _writer is not None:
        _writer.start()


atexit.register(_stop_writer)
os.register_at_fork(after_in_child=_restart_writer_in_child)


def write_logs_before_signal_exit() -> None:
    """Drain the writer when SIGINT or SIGTERM ends the process, then let the signal act as
    before. uvicorn re-raises the signal after its graceful shutdown, and a process ended by a
    signal skips `atexit`: without this its last lines ("Finished server process") are lost.
    Call it from the main thread before the server installs its own handlers."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        original = signal.getsignal(sig)

        def drain_then_resignal(signum: int, _: Any, original: Any = original) -> None:
            _stop_writer()
            signal.signal(signum, original)
            signal.raise_signal(signum)

        signal.signal(sig, drain_then_resignal)


def _capture_exc_info(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """``log.exception()`` asks for the exception being handled: take it now, in the thread
    that logs (the writer thread, which renders the traceback, is handling none)."""
    if event_dict.get("exc_info") is True:
        event_dict["exc_info"] = sys.exc_info()
    return event_dict


def _stamp_from_record(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """The time a foreign (standard library) record was logged, as structlog's ISO stamp."""
    record = event_dict.get("_record")
    if record is not None:
        stamp = datetime.fromtimestamp(record.created, UTC).isoformat()
        event_dict["timestamp"] = stamp.replace("+00:00", "Z")
    return event_dict


def configure_logging(level: str = "INFO", json: bool = False) -> None:
    """Route both structlog and stdlib loggers (uvicorn, sqlalchemy) through one renderer,
    written by the writer thread (replacing the previous configuration's writer)."""
    global _writer
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _capture_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    stream = logging.StreamHandler()
    stream.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, _stamp_from_record],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info if json else structlog.dev.set_exc_info,
                renderer,
            ],
        )
    )
    previous, _writer = _writer, _Writer(stream)
    root = logging.getLogger()
    root.handlers[:] = [_writer.handler]
    if previous is not None:
        previous.stop()  # after the swap: what it holds is written, nothing new reaches it
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # the gateway logs each request itself


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
