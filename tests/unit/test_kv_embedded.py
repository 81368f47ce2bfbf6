"""EmbeddedKV: the shared behaviour suite plus what is specific to a SQLite file."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import waza
from tests.fixtures.kv_suite import EXPIRY_WAIT, KVSuite, MakeKV, Recorder, eventually, put
from waza.kv import EmbeddedKV, KVError, KVUnavailable, discover, open_kv
from waza.kv import embedded as embedded_module
from waza.kv.embedded import _prefix_end
from waza.settings import Settings

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def make_kv(tmp_path: Path) -> Iterator[MakeKV]:
    stores: list[EmbeddedKV] = []

    def factory(namespace: str) -> EmbeddedKV:
        stores.append(EmbeddedKV(tmp_path / "kv.sqlite", namespace))
        return stores[-1]

    yield factory
    for store in stores:
        store.close()


class TestEmbeddedKV(KVSuite):
    pass


def test_two_instances_on_one_file_see_each_other(tmp_path: Path) -> None:
    path = tmp_path / "kv.sqlite"
    with EmbeddedKV(path, "waza/") as first, EmbeddedKV(path, "waza/") as second:
        recorder = Recorder()
        with second.watch_prefix("cfg/", recorder):
            first.put("cfg/a", "1")
            assert second.get("cfg/a") == "1"
            assert recorder.wait_for(1) == [put("cfg/a", "1")]
            second.put("cfg/b", "2")
            assert first.get_prefix("cfg/") == {"cfg/a": "1", "cfg/b": "2"}
            lease = first.lease(30)
            first.put("cfg/leased", "3", lease)
            second_view = second.get("cfg/leased")
            lease.revoke()
            assert second_view == "3"
            assert second.get("cfg/leased") is None


_CHILD = """
import sys
from waza.kv import EmbeddedKV, ServiceRegistration
kv = EmbeddedKV(sys.argv[1], "waza/")
kv.put("from-child", "hello")
ServiceRegistration(kv, "worker", "child", {"pid": 1}, ttl=2).start()
print("ready", flush=True)
sys.stdin.read()
"""


def test_another_process_registers_and_its_death_is_noticed(tmp_path: Path) -> None:
    path = tmp_path / "kv.sqlite"
    env = {**os.environ, "PYTHONPATH": str(Path(waza.__file__).parents[1])}
    with EmbeddedKV(path, "waza/") as kv:
        recorder = Recorder()
        with kv.watch_prefix("services/", recorder):
            with subprocess.Popen(
                [sys.executable, "-c", _CHILD, str(path)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
            ) as child:
                try:
                    assert child.stdout is not None and child.stdout.readline() == b"ready\n"
                    assert kv.get("from-child") == "hello"
                    assert discover(kv, "worker") == [{"pid": 1}]
                    assert recorder.wait_for(1)[0].key == "services/worker/child"
                finally:
                    child.kill()
            # Killed without stop(): the lease expires and the instance disappears.
            assert eventually(lambda: discover(kv, "worker") == [], EXPIRY_WAIT)
            assert recorder.wait_for(2)[-1].type == "delete"


def test_event_log_is_trimmed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedded_module, "EVENT_LOG_SIZE", 10)
    monkeypatch.setattr(embedded_module, "_TRIM_EVERY", 5)
    path = tmp_path / "kv.sqlite"
    with EmbeddedKV(path) as kv:
        for i in range(50):
            kv.put("k", str(i))
    with sqlite3.connect(path) as db:
        (count,) = db.execute("SELECT COUNT(*) FROM events").fetchone()
    assert 10 <= count < 15


def test_closed_store_raises(tmp_path: Path) -> None:
    kv = EmbeddedKV(tmp_path / "kv.sqlite")
    kv.close()
    kv.close()
    with pytest.raises(KVError, match="closed"):
        kv.get("k")
    assert kv.health()["ok"] is False


def test_unusable_path_is_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    with pytest.raises(KVUnavailable, match="not-a-dir"):
        EmbeddedKV(blocker / "kv.sqlite")


def test_open_kv_defaults_to_embedded(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, etcd_url="", kv_backend=None, kv_prefix="waza/")
    with open_kv(settings) as kv:
        assert isinstance(kv, EmbeddedKV)
        assert kv.path == tmp_path / "kv.sqlite"
        kv.put("k", "v")
    with EmbeddedKV(tmp_path / "kv.sqlite") as raw:
        assert raw.get_prefix("") == {"waza/k": "v"}


def test_open_kv_etcd_needs_a_url(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, etcd_url="", kv_backend="etcd")
    with pytest.raises(KVError, match="etcd_url"):
        open_kv(settings)


@pytest.mark.parametrize(
    ("prefix", "end"),
    [("a", "b"), ("ab/", "ab0"), ("a\U0010ffff", "b"), ("\ud7ff", "\ue000"), ("", None)],
)
def test_prefix_end(prefix: str, end: str | None) -> None:
    assert _prefix_end(prefix) == end
