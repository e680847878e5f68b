"""docs/deploy-debian.md, run on this machine (no Docker engine here, so the guide is what is tested):
the shipped deploy/ files checked by the real tools (`systemd-analyze verify` and `security`, `nginx -t`),
then the guide's stack for real: a fresh PostgreSQL role and database, an env file made from
deploy/relai-bot.env.example, `relai-bot db upgrade`, `relai-bot seed --demo`, `relai-bot serve`, and Debian's
nginx with deploy/nginx.conf and a self-signed certificate in front, spoken to over https. Last, the backup
unit's own commands dump that database and prune old dumps."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shlex
import shutil
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from tests.conftest import POSTGRES_URL
from tests.fakes.telegram_api import FakeTelegramServer
from tests.fakes.twilio_api import DEFAULT_ACCOUNT_SID
from tests.paths import REPO
from tests.web.test_serve import RELAI_BOT, free_port, serve_env

pytestmark = pytest.mark.slow

DEPLOY = REPO / "deploy"
GUIDE = REPO / "docs" / "deploy-debian.md"
TELEGRAM_TOKEN = "123456:DEPLOY-relai-token"
WEBHOOK_SECRET = "deploy-webhook-secret"
CHAT = 7_200_001
START_TIMEOUT = 30.0


# --- the tools -----------------------------------------------------------------------------------------
def nginx_binary() -> str:
    """Debian's nginx: installed with apt-get when absent, as root only (as .ci/run does); else a skip."""
    found = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip("nginx is not installed, and installing it needs root and apt-get (apt-get install nginx)")
    environment = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=environment, capture_output=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "nginx", "openssl"],
        check=True,
        env=environment,
        capture_output=True,
    )
    found = shutil.which("nginx") or "/usr/sbin/nginx"
    assert Path(found).exists(), "apt-get install nginx left no nginx"
    return found


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, valid one day, made with openssl."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (apt-get install openssl)")
    cert, key = folder / "fullchain.pem", folder / "privkey.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=relai.test"),
            *("-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def replaced(source: str, old: str, new: str) -> str:
    """`source` with `old` replaced; the shipped file must still say `old` (else this test drifted from it)."""
    assert old in source, f"deploy/nginx.conf no longer says {old!r}"
    return source.replace(old, new)


def nginx_site(https_port: int, http_port: int, upstream_port: int, cert: Path, key: Path, acme: Path) -> str:
    """deploy/nginx.conf with this machine's ports and files: every change is to an address or a path."""
    site = (DEPLOY / "nginx.conf").read_text()
    site = replaced(site, "listen [::]:443 ssl http2;\n", "")
    site = replaced(site, "listen [::]:80;\n", "")
    site = replaced(site, "listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;")
    site = replaced(site, "listen 80;", f"listen 127.0.0.1:{http_port};")
    site = replaced(site, "server 127.0.0.1:8000;", f"server 127.0.0.1:{upstream_port};")
    site = replaced(site, "/etc/letsencrypt/live/relai.example.re/fullchain.pem", str(cert))
    site = replaced(site, "/etc/letsencrypt/live/relai.example.re/privkey.pem", str(key))
    return replaced(site, "root /var/www/letsencrypt;", f"root {acme};")


def nginx_main(prefix: Path, site: Path) -> Path:
    """What Debian's /etc/nginx/nginx.conf gives a site (the http block, mime types), with every file the
    server writes under `prefix`. Run by root, the workers stay root: they write under the test's folder."""
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"    {name}_temp_path {prefix / name};" for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    config = prefix / "nginx.conf"
    config.write_text(
        f"{user}worker_processes 1;\npid {prefix / 'nginx.pid'};\nerror_log {prefix / 'error.log'} warn;\n"
        "events { worker_connections 64; }\n"
        "http {\n    include /etc/nginx/mime.types;\n    default_type application/octet-stream;\n"
        f"    access_log {prefix / 'access.log'};\n{temp}\n    include {site};\n}}\n"
    )
    return config


# --- systemd's expansion of a unit's command lines, enough for deploy/relai-bot-backup.service ---------------
def unit_values(path: Path, key: str) -> list[str]:
    return [line.split("=", 1)[1] for line in path.read_text().splitlines() if line.startswith(f"{key}=")]


def unit_environment(path: Path) -> dict[str, str]:
    return dict(value.split("=", 1) for value in unit_values(path, "Environment"))


def systemd_command(line: str, environment: dict[str, str]) -> list[str]:
    """A unit's ExecStart= as systemd runs it: %% is %, $$ is $, ${NAME} is the unit's variable; then words."""
    dollar = "\0"
    line = line.replace("%%", "%").replace("$$", dollar)
    line = re.sub(r"\$\{(\w+)\}", lambda m: environment[m.group(1)], line)
    assert "$" not in line and "%" not in line.replace("%Y%m%dT%H%M%SZ", ""), f"unexpanded in {line!r}"
    return shlex.split(line.replace(dollar, "$"))


# --- the checks by the real tools ----------------------------------------------------------------------
def test_the_systemd_units_pass_systemd_analyze(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian's systemd package)")
    units = {name: (DEPLOY / name).read_text() for name in ("relai-bot.service", "relai-bot-backup.service")}
    units["relai-bot-backup.timer"] = (DEPLOY / "relai-bot-backup.timer").read_text()
    # verify checks that ExecStart's program exists: the guide's path becomes this checkout's .venv
    shipped = "ExecStart=/opt/relai-bot/.venv/bin/relai-bot serve"
    assert shipped in units["relai-bot.service"]
    units["relai-bot.service"] = units["relai-bot.service"].replace(shipped, f"ExecStart={RELAI_BOT} serve")
    for name, content in units.items():
        (tmp_path / name).write_text(content)
    paths = [str(tmp_path / name) for name in units]
    verified = subprocess.run(["systemd-analyze", "verify", *paths], capture_output=True, text=True, timeout=60)
    # verify exits 0 on an unknown key or a bad value: it says so on stderr, naming the file
    ours = [line for line in (verified.stdout + verified.stderr).splitlines() if str(tmp_path) in line]
    assert verified.returncode == 0 and not ours, verified.stdout + verified.stderr
    security = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--threshold=20", str(tmp_path / "relai-bot.service")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    exposure = re.search(r"Overall exposure level for relai-bot\.service: (\d+\.\d+)", security.stdout)
    assert exposure is not None, security.stdout + security.stderr
    # systemd's scale: 0 is locked down, 10 is unprotected; "OK" below 2 (an unhardened service scores 9.6)
    assert float(exposure.group(1)) < 2.0, security.stdout


def test_the_nginx_site_passes_nginx_t(tmp_path: Path) -> None:
    nginx = nginx_binary()
    cert, key = self_signed_certificate(tmp_path)
    site = tmp_path / "relai-bot.conf"
    site.write_text(nginx_site(free_port(), free_port(), 8000, cert, key, tmp_path))
    config = nginx_main(tmp_path, site)
    checked = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(config)], capture_output=True, text=True)
    assert checked.returncode == 0 and "syntax is ok" in checked.stderr, checked.stderr
    assert "[warn]" not in checked.stderr, checked.stderr


# --- the stack, for real -------------------------------------------------------------------------------
@pytest.fixture
def guide_database() -> Iterator[tuple[str, str]]:
    """The guide's step 4 on this server: a role with a password and a database it owns; both dropped after.
    Yields the role and the database (they share the name relai_deploy_<random>)."""
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"relai_deploy_{secrets.token_hex(6)}"
    password = secrets.token_urlsafe(16)
    statements = re.findall(r'^runuser -u postgres -- psql -c "(.+)"$', GUIDE.read_text(), re.MULTILINE)
    assert statements == [
        "CREATE ROLE relai LOGIN PASSWORD 'THE-PASSWORD'",
        "CREATE DATABASE relai OWNER relai",
    ], "the guide's step 4 changed: this test runs its statements"
    try:
        with admin.connect() as connection:
            for statement in statements:
                statement = re.sub(r"\brelai\b", name, statement).replace("THE-PASSWORD", password)
                connection.execute(text(statement))
    except OperationalError as error:
        admin.dispose()
        if os.environ.get("RELAI_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required here but does not answer at {POSTGRES_URL}: {error}")
        pytest.skip(f"no PostgreSQL answers at {POSTGRES_URL}")
    try:
        yield name, password
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            connection.execute(text(f"DROP ROLE IF EXISTS {name}"))
        admin.dispose()


def env_file(path: Path, values: dict[str, str], extra: dict[str, str]) -> dict[str, str]:
    """deploy/relai-bot.env.example with `values` in place of its own (each must be a line of it) and `extra`
    added, written to `path` mode 0640 as the guide says; returned as systemd's EnvironmentFile= reads it."""
    lines = (DEPLOY / "relai-bot.env.example").read_text().splitlines()
    names = {line.split("=", 1)[0] for line in lines if "=" in line and not line.startswith("#")}
    assert set(values) <= names, f"deploy/relai-bot.env.example lost {sorted(set(values) - names)}"
    written = [
        f"{line.split('=', 1)[0]}={values[line.split('=', 1)[0]]}"
        if "=" in line and not line.startswith("#") and line.split("=", 1)[0] in values
        else line
        for line in lines
    ]
    written += [f"{name}={value}" for name, value in extra.items()]
    path.write_text("\n".join(written) + "\n")
    path.chmod(0o640)
    settings = dict(line.split("=", 1) for line in written if "=" in line and not line.startswith("#"))
    assert not [name for name, value in settings.items() if "CHANGE-ME" in value], settings
    return settings


def run(command: list[str], environment: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(command, env=environment, cwd=cwd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"{shlex.join(command)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
    return done.stdout + done.stderr


async def answering(
    url: str, process: subprocess.Popen[bytes], log: Path, verify: ssl.SSLContext | bool = True
) -> None:
    """Wait until `url` answers 200 (the process must not exit meanwhile)."""
    deadline = time.monotonic() + START_TIMEOUT
    async with httpx.AsyncClient(timeout=2.0, verify=verify) as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"{process.args!r} exited with {process.returncode}:\n{log.read_text(errors='replace')}")
            try:
                if (await http.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    pytest.fail(f"{url} did not answer 200 within {START_TIMEOUT:.0f} s:\n{log.read_text(errors='replace')}")


def stop(process: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def telegram_update(update_id: int) -> dict[str, object]:
    person = {"id": CHAT, "is_bot": False, "first_name": "Test"}
    chat = {"id": CHAT, "type": "private", "first_name": "Test"}
    message = {"message_id": 1, "date": int(time.time()), "chat": chat, "from": person, "text": "/start"}
    return {"update_id": update_id, "message": message}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Debian's tools")
async def test_the_guides_stack_answers_through_nginx_over_tls(tmp_path: Path, guide_database: tuple[str, str]) -> None:
    nginx = nginx_binary()
    role, password = guide_database
    cert, key = self_signed_certificate(tmp_path)
    https_port, http_port, app_port = free_port(), free_port(), free_port()
    public_url = f"https://127.0.0.1:{https_port}"
    state = tmp_path / "var-lib-relai-bot"  # the unit's WorkingDirectory
    state.mkdir()
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    metrics_token = secrets.token_urlsafe(32)

    async with FakeTelegramServer(TELEGRAM_TOKEN, enforce_rate_limits=False) as telegram:
        settings = env_file(
            tmp_path / "relai-bot.env",
            {
                "RELAI_DATABASE_URL": f"postgresql://{role}:{password}@127.0.0.1:5432/{role}",
                "RELAI_PORT": str(app_port),
                "RELAI_PUBLIC_URL": public_url,
                "RELAI_ADMIN_SECRET_KEY": secrets.token_urlsafe(32),
                "RELAI_METRICS_TOKEN": metrics_token,
                "RELAI_TELEGRAM_TOKEN": TELEGRAM_TOKEN,
                "RELAI_TELEGRAM_BOT_USERNAME": "relai_possession_bot",
                "RELAI_TWILIO_ACCOUNT_SID": DEFAULT_ACCOUNT_SID,
                "RELAI_TWILIO_AUTH_TOKEN": secrets.token_hex(16),
                "RELAI_TWILIO_FROM": "+262939001122",
            },
            # the providers: the fake Telegram server, and a Twilio address nothing calls here
            {
                "RELAI_TELEGRAM_API_URL": telegram.base_url,
                "RELAI_TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
                "RELAI_TWILIO_API_URL": f"http://127.0.0.1:{free_port()}",
            },
        )
        assert settings["RELAI_FORWARDED_ALLOW_IPS"] == "127.0.0.1" and settings["RELAI_HOST"] == "127.0.0.1"
        environment = serve_env(state / "unused.sqlite3", app_port) | settings
        assert "schema at revision" in run([str(RELAI_BOT), "db", "upgrade"], environment, state)
        assert "schemes=" in run([str(RELAI_BOT), "seed", "--demo"], environment, state)

        site = tmp_path / "relai-bot.conf"
        site.write_text(nginx_site(https_port, http_port, app_port, cert, key, tmp_path))
        serve_log, nginx_log = tmp_path / "serve.log", prefix / "error.log"
        serve = server = None
        try:
            with serve_log.open("wb") as output:
                serve = subprocess.Popen(
                    [str(RELAI_BOT), "serve"], cwd=state, env=environment, stdout=output, stderr=subprocess.STDOUT
                )
            await answering(f"http://127.0.0.1:{app_port}/healthz", serve, serve_log)
            config = nginx_main(prefix, site)
            server = subprocess.Popen(
                [nginx, "-p", str(prefix), "-c", str(config), "-g", "daemon off;"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            trusted = ssl.create_default_context(cafile=str(cert))
            await answering(f"{public_url}/healthz", server, nginx_log, verify=trusted)

            async with httpx.AsyncClient(base_url=public_url, verify=trusted, timeout=10.0) as https:
                health = await https.get("/healthz")
                assert health.status_code == 200 and health.json()["status"] == "ok"
                ready = await https.get("/readyz")
                # ready: the database at its schema, Telegram's webhook registered (asked of the fake), both lanes here
                assert ready.status_code == 200 and ready.json()["status"] == "ready", ready.text
                assert ready.json()["channels"]["telegram"]["state"] == "webhook"

                login = await https.get("/admin/login")
                assert login.status_code == 200 and 'name="csrf"' in login.text
                cookie = login.headers["set-cookie"].lower()
                # Secure: RELAI_PUBLIC_URL is https; the browser sends it back over https only
                assert "relai_admin=" in cookie and re.search(r";\s*secure(;|$)", cookie), cookie
                # the app sees https (nginx's X-Forwarded-Proto, believed from 127.0.0.1): its redirect says so
                moved = await https.get("/admin")
                assert moved.status_code == 307 and moved.headers["location"].startswith("https://"), moved.headers

                # Telegram: the webhook was registered at the public address; a forged update is refused,
                # one carrying the secret goes through nginx and is answered
                assert telegram.webhook_url == f"{public_url}/webhooks/telegram"
                forged = await https.post(
                    "/webhooks/telegram",
                    json=telegram_update(1),
                    headers={"X-Telegram-Bot-Api-Secret-Token": "forged"},
                )
                assert forged.status_code == 403
                genuine = await https.post(
                    "/webhooks/telegram",
                    json=telegram_update(2),
                    headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET},
                )
                assert genuine.status_code == 200
                await telegram.wait_until(lambda: bool(telegram.sent_messages(CHAT)), timeout=15)
                # Twilio: an SMS without Twilio's signature is refused
                sms = await https.post("/webhooks/twilio/sms", data={"From": "+262692000001", "Body": "bonjour"})
                assert sms.status_code == 403

                # /metrics: nginx lets only the monitoring host through (not 127.0.0.1), whatever the token
                bearer = {"Authorization": f"Bearer {metrics_token}"}
                assert (await https.get("/metrics", headers=bearer)).status_code == 403
                direct = httpx.get(f"http://127.0.0.1:{app_port}/metrics", headers=bearer)
                assert direct.status_code == 200 and "relai_turns_total" in direct.text
                # nothing else is served; plain http only redirects
                assert (await https.get("/")).status_code == 404
            plain = httpx.get(f"http://127.0.0.1:{http_port}/admin/login", follow_redirects=False)
            assert plain.status_code == 301 and plain.headers["location"].startswith("https://")
        finally:
            stop(server, signal.SIGQUIT)  # nginx's graceful stop
            stop(serve)
        log = serve_log.read_text(errors="replace")
        assert serve.returncode in (0, -signal.SIGTERM), log
        assert "Traceback" not in log and "+262692000001" not in log, log
        # RELAI_LOG_FORMAT=json: every line serve wrote after start-up is one JSON object
        assert all(line.startswith("{") for line in log.splitlines() if not line.startswith("relai-bot:")), log

    # The backup unit's own commands, against this database (PG* variables instead of the postgres user's socket)
    unit = DEPLOY / "relai-bot-backup.service"
    backups = tmp_path / "backups"
    backups.mkdir()
    old = backups / "relai-20200101T023000Z.dump"
    old.write_bytes(b"an old dump")
    os.utime(old, (time.time() - 40 * 86400, time.time() - 40 * 86400))
    variables = unit_environment(unit) | {"BACKUP_DIR": str(backups)}
    pg = os.environ | variables | {"PGDATABASE": role, "PGHOST": "127.0.0.1", "PGUSER": role, "PGPASSWORD": password}
    for key in ("ExecStart", "ExecStartPost"):
        [line] = unit_values(unit, key)
        run(systemd_command(line, variables), pg, tmp_path)
    [dump] = list(backups.glob("relai-*.dump"))
    assert re.fullmatch(r"relai-\d{8}T\d{6}Z\.dump", dump.name) and not list(backups.glob("*.part"))
    listed = run(["pg_restore", "--list", str(dump)], pg, tmp_path)
    assert "TABLE DATA public scheme" in listed and "TABLE DATA public alembic_version" in listed
    # The guide's restore, over the database the dump came from (serve stopped): everything comes back
    [restore] = re.findall(r"^runuser -u postgres -- (pg_restore .+)$", GUIDE.read_text(), re.MULTILINE)
    command = shlex.split(restore)
    assert command[:-1] == ["pg_restore", "--clean", "--if-exists", "--dbname=relai"], restore
    url = f"postgresql+psycopg://{role}:{password}@127.0.0.1:5432/{role}"
    engine = create_engine(url)
    try:
        names = text("SELECT code, name FROM scheme ORDER BY code")
        with engine.begin() as connection:
            before = connection.execute(names).all()
            connection.execute(text("UPDATE scheme SET name = 'damaged'"))
        run([*command[:-2], f"--dbname={role}", str(dump)], pg, tmp_path)
        with engine.connect() as connection:
            assert connection.execute(names).all() == before and len(before) > 20
    finally:
        engine.dispose()
