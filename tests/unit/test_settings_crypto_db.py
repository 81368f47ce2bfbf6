"""Settings sources, envelope encryption and the transaction helper."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from waza.crypto import DecryptionError, Envelope
from waza.db import Database
from waza.db.migrate import current_revision, upgrade
from waza.settings import Settings


def test_embedded_defaults_live_under_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WAZA_HOME", str(tmp_path))
    settings = Settings()
    assert settings.home == tmp_path.resolve()
    assert settings.effective_database_url == f"sqlite:///{tmp_path.resolve() / 'waza.db'}"
    assert settings.effective_kv_backend == "embedded"
    assert settings.effective_public_url == "http://127.0.0.1:7777"


def test_environment_overrides_and_etcd_switch(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("WAZA_HOME", str(tmp_path))
    monkeypatch.setenv("WAZA_PORT", "9001")
    monkeypatch.setenv("WAZA_ETCD_URL", "http://127.0.0.1:2379")
    monkeypatch.setenv("WAZA_CORS_ORIGINS", '["http://a.example"]')
    settings = Settings()
    assert settings.port == 9001
    assert settings.effective_kv_backend == "etcd"
    assert settings.cors_origins == ["http://a.example"]


def test_config_file_is_read_and_env_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "waza.toml"
    config.write_text('port = 8123\nlog_level = "DEBUG"\nadmin_username = "root"\n')
    monkeypatch.setenv("WAZA_HOME", str(tmp_path))
    monkeypatch.setenv("WAZA_LOG_LEVEL", "ERROR")
    settings = Settings()
    assert settings.port == 8123 and settings.admin_username == "root"
    assert settings.log_level == "ERROR"
    yaml_file = tmp_path / "other.yaml"
    yaml_file.write_text("port: 8124\n")
    monkeypatch.setenv("WAZA_CONFIG_FILE", str(yaml_file))
    assert Settings().port == 8124


def test_invalid_settings_fail_clearly(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WAZA_HOME", str(tmp_path))
    monkeypatch.setenv("WAZA_PORT", "99999")
    with pytest.raises(ValueError, match="port"):
        Settings()


def test_redacted_hides_secrets(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path,
        admin_password="s3cret-pw",  # type: ignore[arg-type]
        secret_key="kek-value",  # type: ignore[arg-type]
        database_url="postgresql+psycopg://u:dbpass@db:5432/w",
    )
    dumped = str(settings.redacted())
    assert "s3cret-pw" not in dumped and "kek-value" not in dumped and "dbpass" not in dumped
    assert "db:5432/w" in dumped


def test_generated_secret_key_is_stable_and_private(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    first = settings.key_encryption_key()
    assert first == Settings(home=tmp_path).key_encryption_key()
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600


def test_envelope_round_trip_and_tamper_detection() -> None:
    env = Envelope(b"key-one")
    stored = env.encrypt("hunter2")
    assert "hunter2" not in stored and stored.startswith("v1.")
    assert env.decrypt(stored) == b"hunter2"
    assert env.encrypt("hunter2") != stored  # a fresh data key every time
    with pytest.raises(DecryptionError):
        Envelope(b"key-two").decrypt(stored)
    with pytest.raises(DecryptionError):
        env.decrypt(stored[:-3] + "abc")
    with pytest.raises(DecryptionError):
        env.decrypt("v9.x.y")


def test_migrations_reach_head_and_are_idempotent(settings: Settings) -> None:
    db = Database(settings.effective_database_url)
    upgrade(db)
    head = current_revision(db)
    upgrade(db)
    assert current_revision(db) == head and head is not None
    with db.session() as s:
        tables = {"users", "personal_access_tokens", "auth_sessions", "signing_keys", "activities"}
        for table in tables:
            s.execute(text(f"SELECT count(*) FROM {table}"))  # noqa: S608 (fixed names)
    db.dispose()


class _SerializationFailure(Exception):
    sqlstate = "40001"


def test_transaction_retries_serialization_failures(settings: Settings) -> None:
    """CockroachDB cannot run here; its restart error is simulated with SQLSTATE 40001."""
    db = Database(settings.effective_database_url)
    attempts: list[int] = []

    def work(session: object) -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise OperationalError("COMMIT", {}, _SerializationFailure())
        return "done"

    assert db.transaction(work) == "done"
    assert len(attempts) == 3

    other: list[int] = []

    def fails(session: object) -> None:
        other.append(1)
        raise OperationalError("SELECT", {}, Exception("disk on fire"))

    with pytest.raises(OperationalError):
        db.transaction(fails)
    assert len(other) == 1  # other errors are not retried
    db.dispose()


def test_failed_transaction_leaves_nothing_behind(settings: Settings) -> None:
    from waza.services.activity.models import Activity

    db = Database(settings.effective_database_url)
    upgrade(db)

    def work(session) -> None:  # type: ignore[no-untyped-def]
        session.add(
            Activity(module="t", apicall="/x", action="POST", status_code=200, outcome="success")
        )
        session.flush()
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        db.transaction(work)
    with db.session() as s:
        assert s.execute(text("SELECT count(*) FROM activities")).scalar() == 0
    db.dispose()


def test_urls_without_a_driver_use_psycopg3() -> None:
    from waza.db.engine import normalize_url

    assert normalize_url("cockroachdb://root@h:26257/d") == "cockroachdb+psycopg://root@h:26257/d"
    assert normalize_url("postgresql://u@h/d") == "postgresql+psycopg://u@h/d"
    assert normalize_url("sqlite:///x.db") == "sqlite:///x.db"
    engine = Database("cockroachdb://root@127.0.0.1:1/defaultdb").engine  # no connection made
    assert (engine.dialect.name, engine.dialect.driver) == ("cockroachdb", "psycopg")
