"""Start-up configuration (COUP.md §14): defaults, refusal of bad values, flags, cookie secret.

These tests call `load_settings` with an explicit environment mapping, so the developer's own
COUP_* variables never leak in; the one subprocess test strips them from the child as well.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from coup.config import ConfigError, RateLimit, load_settings, resolve_cookie_secret

MIB = 1024 * 1024


def clean_environ(**values: str) -> dict[str, str]:
    """The current process environment without any COUP_* variable, plus `values`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COUP_")}
    env.update(values)
    return env


# --- defaults ------------------------------------------------------------------------------


def test_defaults_match_the_configuration_table() -> None:
    settings = load_settings({})

    assert settings.database_url == "sqlite:///coup.db"
    assert settings.is_sqlite
    assert settings.redis_url is None
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.node_id == f"{socket.gethostname()}:8000"
    assert settings.app_url == "http://localhost:8000"
    assert settings.public_api_url == "http://localhost:8000"
    assert settings.allowed_origins == ("http://localhost:8000",)
    # "generated": filled in by resolve_cookie_secret, not by load_settings.
    assert settings.cookie_secret == ""
    # auto, and the public URL is plain http://localhost.
    assert settings.secure_cookies is False
    assert settings.trusted_proxies == ()
    assert settings.upload_dir == Path("./uploads")
    assert settings.study_quota_bytes == 1073741824
    assert settings.timezone == "Asia/Seoul"
    assert settings.tz.key == "Asia/Seoul"
    assert settings.language == "ko"
    assert settings.google_client_id is None and settings.google_client_secret is None
    assert settings.github_client_id is None and settings.github_client_secret is None
    assert settings.oauth_app_redirects == ()
    assert settings.chat_rate == RateLimit(5, 10.0)
    assert settings.event_retention_days == 30
    assert settings.video_max_participants == 6
    assert settings.stun_urls == ("stun:stun.l.google.com:19302",)
    assert settings.turn_urls == ()
    assert settings.turn_secret is None
    assert settings.metrics_allow == (ipaddress.ip_network("127.0.0.1/32"),)
    assert settings.metrics_token is None
    assert settings.bcrypt_rounds == 12
    assert settings.testing is False


def test_protocol_limits_default_to_the_protocol_table() -> None:
    settings = load_settings({})

    assert settings.ws_max_frame_bytes == 64 * 1024
    assert settings.ws_max_rooms_per_session == 128
    assert settings.ws_max_sessions_per_user == 20
    assert settings.ws_outbound_max_bytes == 1 * MIB
    assert settings.ws_outbound_max_frames == 1000


def test_allowed_origins_default_to_the_app_url() -> None:
    settings = load_settings({"COUP_APP_URL": "https://app.example.com/"})

    assert settings.app_url == "https://app.example.com"
    assert settings.allowed_origins == ("https://app.example.com",)


def test_values_from_the_environment_are_parsed() -> None:
    settings = load_settings({
        "COUP_DATABASE_URL": "postgresql://coup@db:5432/coup",
        "COUP_REDIS_URL": "redis://cache:6379/0",
        "COUP_COOKIE_SECRET": "shared-secret",
        "COUP_ALLOWED_ORIGINS": "https://a.example, https://b.example/",
        "COUP_TRUSTED_PROXIES": "10.0.0.0/8, fd00::/8",
        "COUP_CHAT_RATE": "3/5s",
        "COUP_TIMEZONE": "Europe/Paris",
        "COUP_LANGUAGE": "en",
        "COUP_DB_POOL_SIZE": "3",
    })

    assert not settings.is_sqlite
    assert settings.redis_url == "redis://cache:6379/0"
    assert settings.cookie_secret == "shared-secret"
    assert settings.allowed_origins == ("https://a.example", "https://b.example")
    assert settings.trusted_proxies == (
        ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8"))
    assert settings.chat_rate == RateLimit(3, 5.0)
    assert settings.timezone == "Europe/Paris"
    assert settings.language == "en"
    assert settings.db_pool_size == 3


# --- bad values ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"COUP_PORT": "abc"}, "COUP_PORT"),
        ({"COUP_PORT": "70000"}, "COUP_PORT"),
        ({"COUP_DATABASE_URL": "mysql://x"}, "COUP_DATABASE_URL"),
        ({"COUP_TIMEZONE": "Mars/Base"}, "COUP_TIMEZONE"),
        ({"COUP_CHAT_RATE": "lots"}, "COUP_CHAT_RATE"),
        ({"COUP_LANGUAGE": "fr"}, "COUP_LANGUAGE"),
        ({"COUP_SECURE_COOKIES": "maybe"}, "COUP_SECURE_COOKIES"),
        ({"COUP_TRUSTED_PROXIES": "notacidr"}, "COUP_TRUSTED_PROXIES"),
        ({"COUP_BCRYPT_ROUNDS": "4"}, "COUP_BCRYPT_ROUNDS"),
        ({"COUP_REDIS_URL": "redis://cache:6379/0"}, "COUP_COOKIE_SECRET"),
    ],
    ids=lambda value: value if isinstance(value, str) else ",".join(value.values()),
)
def test_bad_value_is_refused_naming_the_variable(environ: dict[str, str],
                                                  variable: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(environ)

    assert variable in str(raised.value)


def test_low_bcrypt_rounds_are_allowed_when_testing() -> None:
    settings = load_settings({"COUP_BCRYPT_ROUNDS": "4", "COUP_TESTING": "1"})

    assert settings.bcrypt_rounds == 4
    assert settings.testing is True


def test_redis_with_a_cookie_secret_is_accepted() -> None:
    settings = load_settings({"COUP_REDIS_URL": "redis://cache:6379/0",
                              "COUP_COOKIE_SECRET": "same-on-every-node"})

    assert settings.redis_url == "redis://cache:6379/0"
    assert settings.cookie_secret == "same-on-every-node"


# --- flags ---------------------------------------------------------------------------------


def test_flags_win_over_the_environment_for_host_and_port() -> None:
    environ = {"COUP_HOST": "0.0.0.0", "COUP_PORT": "9000"}

    from_env = load_settings(environ)
    from_flags = load_settings(environ, host="10.1.2.3", port=8123)

    assert (from_env.host, from_env.port) == ("0.0.0.0", 9000)
    assert (from_flags.host, from_flags.port) == ("10.1.2.3", 8123)
    assert from_flags.node_id.endswith(":8123")


def test_port_flag_zero_still_wins() -> None:
    # 0 means "any free port"; it is falsy, and must not fall back to COUP_PORT.
    assert load_settings({"COUP_PORT": "9000"}, port=0).port == 0


def test_a_port_flag_skips_a_bad_port_variable() -> None:
    assert load_settings({"COUP_PORT": "abc"}, port=8001).port == 8001


# --- secure cookies ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("public_api_url", "secure"),
    [
        ("http://localhost:8000", False),
        ("http://127.0.0.1:9000", False),
        ("http://localhost", False),
        ("https://localhost:8443", True),
        ("https://api.example.com", True),
        ("http://api.example.com", True),
    ],
)
def test_secure_cookies_auto_follow_the_public_api_url(public_api_url: str,
                                                        secure: bool) -> None:
    for environ in ({"COUP_PUBLIC_API_URL": public_api_url},
                    {"COUP_PUBLIC_API_URL": public_api_url, "COUP_SECURE_COOKIES": "auto"}):
        assert load_settings(environ).secure_cookies is secure


def test_secure_cookies_explicit_value_wins_over_auto() -> None:
    assert load_settings({"COUP_PUBLIC_API_URL": "https://api.example.com",
                          "COUP_SECURE_COOKIES": "false"}).secure_cookies is False
    assert load_settings({"COUP_SECURE_COOKIES": "true"}).secure_cookies is True


# --- cookie secret -------------------------------------------------------------------------


def test_cookie_secret_is_generated_once_beside_the_sqlite_database(tmp_path: Path) -> None:
    db_file = tmp_path / "data" / "coup.db"
    settings = load_settings({"COUP_DATABASE_URL": f"sqlite:///{db_file}"})
    secret_file = db_file.parent / ".coup-secret"
    assert not secret_file.exists()

    first = resolve_cookie_secret(settings)
    second = resolve_cookie_secret(settings)

    assert len(first.cookie_secret) >= 32
    assert second.cookie_secret == first.cookie_secret
    assert secret_file.read_text().strip() == first.cookie_secret
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    # The Settings passed in stay untouched (frozen); only the returned copy has the secret.
    assert settings.cookie_secret == ""


def test_configured_cookie_secret_is_used_and_nothing_is_written(tmp_path: Path) -> None:
    db_file = tmp_path / "coup.db"
    settings = load_settings({"COUP_DATABASE_URL": f"sqlite:///{db_file}",
                              "COUP_COOKIE_SECRET": "configured"})

    assert resolve_cookie_secret(settings).cookie_secret == "configured"
    assert not (tmp_path / ".coup-secret").exists()


def test_cookie_secret_for_postgresql_lives_in_the_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings({"COUP_DATABASE_URL": "postgresql://coup@db/coup"})

    secret = resolve_cookie_secret(settings).cookie_secret

    assert (tmp_path / ".coup-secret").read_text().strip() == secret
    assert resolve_cookie_secret(settings).cookie_secret == secret


# --- the real program ----------------------------------------------------------------------


def test_serve_with_a_bad_port_exits_naming_the_variable(tmp_path: Path) -> None:
    env = clean_environ(COUP_PORT="abc", COUP_DATABASE_URL=f"sqlite:///{tmp_path / 'coup.db'}")

    # The timeout turns "it started serving anyway" into a failure instead of a hang.
    result = subprocess.run([sys.executable, "-m", "coup", "serve"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)

    assert result.returncode != 0
    assert "COUP_PORT" in result.stderr
    assert not (tmp_path / "coup.db").exists()
