"""EtcdKV against a real etcd: the shared behaviour suite plus outages and restarts."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.etcd import EtcdServer, free_port
from tests.fixtures.kv_suite import KVSuite, MakeKV, Recorder, delete, eventually, put
from waza.kv import KVUnavailable, ServiceRegistration, discover, open_kv
from waza.kv.etcd import EtcdKV
from waza.settings import Settings

pytestmark = [pytest.mark.etcd, pytest.mark.timeout(60)]


@pytest.fixture
def make_kv(etcd_url: str) -> Iterator[MakeKV]:
    """Stores under a namespace private to this test, on the session's etcd."""
    root = f"test-{uuid.uuid4().hex[:8]}/"
    stores: list[EtcdKV] = []

    def factory(namespace: str) -> EtcdKV:
        stores.append(EtcdKV(etcd_url, root + namespace))
        return stores[-1]

    yield factory
    for store in stores:
        store.close()
    with EtcdKV(etcd_url, root) as cleanup:
        cleanup.delete_prefix("")


def _try_put(kv: EtcdKV, key: str, value: str) -> bool:
    try:
        kv.put(key, value)
    except KVUnavailable:
        return False
    return True


class TestEtcdKV(KVSuite):
    pass


def test_unreachable_etcd_fails_fast_with_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with EtcdKV(url, "waza/", timeout=2) as kv:
        for call in (lambda: kv.get("k"), lambda: kv.put("k", "v"), lambda: kv.lease(5)):
            with pytest.raises(KVUnavailable, match=url):
                call()
        with pytest.raises(KVUnavailable, match=url):
            kv.watch_prefix("", Recorder())
        health = kv.health()
    assert health["ok"] is False and url in health["error"]
    assert time.monotonic() - started < 5


def test_open_kv_uses_etcd_when_a_url_is_set(etcd_url: str, tmp_path: Path) -> None:
    prefix = f"test-{uuid.uuid4().hex[:8]}/"
    settings = Settings(home=tmp_path, etcd_url=etcd_url, kv_backend=None, kv_prefix=prefix)
    with open_kv(settings) as kv:
        assert isinstance(kv, EtcdKV)
        kv.put("k", "v")
        assert kv.health()["endpoint"] == etcd_url
    with EtcdKV(etcd_url) as raw:
        assert raw.get(f"{prefix}k") == "v"
        raw.delete_prefix(prefix)


def test_watch_and_registration_survive_an_etcd_restart(fresh_etcd: EtcdServer) -> None:
    recorder = Recorder()
    with EtcdKV(fresh_etcd.url, "waza/") as kv, kv.watch_prefix("services/", recorder):
        registration = ServiceRegistration(kv, "svc", "a", {"n": 1}, ttl=2).start()
        assert recorder.wait_for(1) == [put("services/svc/a", '{"n": 1}')]
        fresh_etcd.stop()
        time.sleep(1)  # the keep-alive fails meanwhile; it must keep trying
        fresh_etcd.start()
        # The client reconnects within a second; the watch re-subscribes with a back-off, so
        # this put most likely lands before the watch is back. It must not be lost.
        assert eventually(lambda: _try_put(kv, "services/svc/b", "{}"))
        assert recorder.wait_for(2)[1:] == [put("services/svc/b", "{}")]  # no replays either
        time.sleep(3)  # past the TTL: the registration was kept alive
        assert discover(kv, "svc") == [{"n": 1}, {}]
        registration.stop()
        assert recorder.wait_for(3)[2:] == [delete("services/svc/a")]
