"""`relai-bot serve` behind a reverse proxy (RELAI_FORWARDED_ALLOW_IPS): X-Forwarded-Proto and
X-Forwarded-For count from the proxy's addresses only; with the setting empty they are ignored. Twilio's
signatures are checked against RELAI_PUBLIC_URL whatever the headers say, and the back-office's cookie is
Secure when that address is https. Each test starts the real command, as test_serve.py does."""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest

from relai_bot.config import SettingsError, load_settings
from tests.fakes.twilio_api import DEFAULT_ACCOUNT_SID, signed_form
from tests.web.admin_support import CSRF
from tests.web.test_serve import RELAI_BOT, STOP_TIMEOUT, free_port, serve_env, wait_until_healthy

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGTERM"), reason="stops serve with SIGTERM")

PUBLIC_URL = "https://relai.example.re"
AUTH_TOKEN = "proxy-test-auth-token"
CLIENT = "203.0.113.9"  # the resident's or staff's address, as the proxy forwards it
HTTPS = {"X-Forwarded-Proto": "https"}


class Served(NamedTuple):
    url: str
    database: Path


@contextmanager
def serve(tmp_path: Path, **settings: str) -> Iterator[Served]:
    """`relai-bot serve` on a free port with these RELAI_* settings, stopped after."""
    port = free_port()
    database = tmp_path / "x.sqlite3"
    env = serve_env(database, port) | settings
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(RELAI_BOT), "serve"], cwd=tmp_path, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(process, f"{url}/healthz", log)
        yield Served(url, database)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=STOP_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def seen_scheme(served: Served) -> str:
    """The scheme the app believes the request came with: Starlette's redirect from /admin to /admin/ is an
    absolute URL built from what it sees."""
    response = httpx.get(f"{served.url}/admin", headers=HTTPS, follow_redirects=False)
    assert response.status_code == 307
    location = response.headers["location"]
    assert location.endswith(served.url.removeprefix("http://") + "/admin/"), location
    return location.split("://", 1)[0]


def seen_client(served: Served) -> str:
    """The address a failed sign-in is counted against (the back-off per client address)."""
    with httpx.Client(base_url=served.url, headers={"X-Forwarded-For": CLIENT}) as browser:
        page = browser.get("/admin/login")
        token = CSRF.search(page.text)
        assert token is not None
        form = {"email": "nobody@mairie.re", "password": "wrong", "csrf": token.group(1)}
        assert browser.post("/admin/login", data=form).status_code == 400
    with sqlite3.connect(served.database) as connection:
        [key] = [row[0] for row in connection.execute("SELECT key FROM login_throttle")]
    return key.removeprefix("ip:")


def test_behind_a_trusted_proxy_the_app_sees_the_public_scheme_and_the_client(tmp_path: Path) -> None:
    with serve(tmp_path, RELAI_FORWARDED_ALLOW_IPS="127.0.0.1") as served:
        assert seen_scheme(served) == "https"
        assert seen_client(served) == CLIENT


@pytest.mark.parametrize("allowed", ["", "10.0.0.0/8"], ids=["no proxy", "another proxy"])
def test_forwarded_headers_from_elsewhere_are_ignored(tmp_path: Path, allowed: str) -> None:
    """uvicorn alone would trust 127.0.0.1: with no proxy named, nobody is trusted."""
    with serve(tmp_path, RELAI_FORWARDED_ALLOW_IPS=allowed) as served:
        assert seen_scheme(served) == "http"
        assert seen_client(served) == "127.0.0.1"


def test_twilio_signatures_are_checked_against_the_public_url_behind_the_proxy(tmp_path: Path) -> None:
    settings = {
        "RELAI_FORWARDED_ALLOW_IPS": "127.0.0.1",
        "RELAI_PUBLIC_URL": PUBLIC_URL,
        "RELAI_TWILIO_ACCOUNT_SID": DEFAULT_ACCOUNT_SID,
        "RELAI_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "RELAI_TWILIO_FROM": "+262939001122",
        "RELAI_TWILIO_API_URL": f"http://127.0.0.1:{free_port()}",  # never called: no SMS is sent here
    }
    params = {"MessageSid": "SM" + "0" * 32, "MessageStatus": "delivered", "AccountSid": DEFAULT_ACCOUNT_SID}
    path = "/webhooks/twilio/status"
    with serve(tmp_path, **settings) as served:
        # Twilio signs the address it called: the public one, which the proxy forwards here
        called = signed_form(PUBLIC_URL + path, AUTH_TOKEN, params)
        assert httpx.post(served.url + path, data=params, headers=called | HTTPS).status_code == 204
        # A signature over what the app sees (the forwarded scheme, the proxy's Host) does not pass
        host = served.url.removeprefix("http://")
        local = signed_form(f"https://{host}{path}", AUTH_TOKEN, params)
        assert httpx.post(served.url + path, data=params, headers=local | HTTPS).status_code == 403
        # The back-office's session cookie is Secure: the public address is https
        login = httpx.get(served.url + "/admin/login", headers=HTTPS)
        cookie = login.headers["set-cookie"].lower()
        assert "relai_admin=" in cookie and re.search(r";\s*secure(;|$)", cookie), cookie


def test_the_forwarded_allow_ips_setting() -> None:
    assert load_settings().forwarded_networks == []
    settings = load_settings(forwarded_allow_ips=" 127.0.0.1 , 10.1.2.3/8,::1, ")
    assert settings.forwarded_networks == ["127.0.0.1", "10.0.0.0/8", "::1"]
    for wrong in ("*", "proxy.local", "10.0.0.0/33"):
        with pytest.raises(
            SettingsError, match=rf"^setting RELAI_FORWARDED_ALLOW_IPS is invalid: '{re.escape(wrong)}'"
        ):
            load_settings(forwarded_allow_ips=wrong)
