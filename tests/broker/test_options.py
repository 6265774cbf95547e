"""`--broker` and `--workers`: checked at start-up, shown without secrets."""

import pytest

from server.settings import Settings, SettingsError, load_settings


def test_broker_must_be_a_redis_url() -> None:
    with pytest.raises(SettingsError, match="--broker must be a redis:// or rediss:// URL"):
        load_settings(["--broker", "http://user:secret@example.org"], environ={})


def test_broker_password_never_shown() -> None:
    settings = load_settings([], environ={"PROTOCOL_LAB_BROKER": "redis://:hunter2@db:6379/0"})
    assert settings.public["broker"] == "redis://***@db:6379/0"
    with pytest.raises(SettingsError) as error:
        Settings(broker="tcp://:hunter2@db")
    assert "hunter2" not in str(error.value)


def test_workers_at_least_one() -> None:
    with pytest.raises(SettingsError, match="--workers must be at least 1"):
        load_settings(["--workers", "0"], environ={})
