"""The log writer thread (`waza.gateway.logging`): logging never waits on the log stream,
records keep the time they were logged, and a `waza api` stopped by a signal still writes its
last lines."""

from __future__ import annotations

import io
import logging
import re
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime

import pytest

from tests.conftest import start_server, stop_server
from waza.gateway.logging import configure_logging, get_logger
from waza.settings import Settings


class BlockedStream(io.StringIO):
    """A log stream whose writes wait until `release` is set (a full pipe, a stalled reader)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def write(self, text: str) -> int:
        self.release.wait(30)
        return super().write(text)


@pytest.fixture
def blocked(monkeypatch: pytest.MonkeyPatch) -> Iterator[BlockedStream]:
    stream = BlockedStream()
    monkeypatch.setattr(sys, "stderr", stream)
    configure_logging("INFO")
    yield stream
    stream.release.set()
    monkeypatch.undo()
    configure_logging("INFO")  # back to the real stderr (drains the test's writer first)


def wait_for(stream: io.StringIO, text: str) -> str:
    deadline = time.monotonic() + 10
    while text not in stream.getvalue():
        assert time.monotonic() < deadline, stream.getvalue()
        time.sleep(0.01)
    return stream.getvalue()


def test_logging_does_not_wait_for_a_blocked_stream(blocked: BlockedStream) -> None:
    started = time.monotonic()
    for i in range(50):
        get_logger("waza.test").info("request", n=i)
    assert time.monotonic() - started < 1.0  # 50 records while the stream accepts nothing
    assert blocked.getvalue() == ""
    blocked.release.set()
    written = wait_for(blocked, "n=49")
    numbers = [int(n) for n in re.findall(r"n=(\d+)", written)]
    assert numbers == list(range(50))  # all of them, in order


def test_records_keep_the_time_they_were_logged(blocked: BlockedStream) -> None:
    """Both structlog's events and plain standard-library records (uvicorn's, SQLAlchemy's)."""
    logged_at = datetime.now().astimezone()
    get_logger("waza.test").info("from structlog")
    logging.getLogger("stdlib.test").warning("from the standard library")
    time.sleep(0.5)  # the writer renders them only now
    blocked.release.set()
    written = wait_for(blocked, "from the standard library")
    stamps = re.findall(r"^(\S+Z) ", written, re.MULTILINE)
    assert len(stamps) == 2, written
    for stamp in stamps:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        assert abs((when - logged_at).total_seconds()) < 0.4, (stamp, logged_at)


def test_exceptions_keep_their_tracebacks(blocked: BlockedStream) -> None:
    """The writer renders tracebacks later, in a thread that handles no exception: both kinds
    of records must carry theirs from the moment they were logged."""
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        get_logger("waza.test").exception("structlog failure")
    try:
        {}["missing"]
    except KeyError:
        logging.getLogger("stdlib.test").exception("stdlib failure")
    blocked.release.set()
    written = wait_for(blocked, "KeyError")
    structlog_part, _, stdlib_part = written.partition("stdlib failure")
    assert "structlog failure" in structlog_part
    assert "ZeroDivisionError: division by zero" in structlog_part
    assert "1 / 0" in structlog_part  # the traceback, not just the exception's name
    assert "KeyError: 'missing'" in stdlib_part


def test_reconfiguring_writes_what_the_old_writer_held(blocked: BlockedStream) -> None:
    get_logger("waza.test").info("before reconfiguring")
    threading.Timer(0.3, blocked.release.set).start()
    configure_logging("INFO")  # stops the old writer: it finishes its queue first
    assert "before reconfiguring" in blocked.getvalue()


def test_a_server_stopped_by_sigterm_writes_its_last_lines(settings: Settings) -> None:
    server = start_server(settings)
    stop_server(server)  # SIGTERM: uvicorn shuts down gracefully, then re-raises the signal
    assert server.process.returncode == -15  # still ended by the signal, as a supervisor expects
    log = server.log()
    assert "Application shutdown complete" in log
    assert "Finished server process" in log
