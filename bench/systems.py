"""The systems under test, each started as its own process: `relai-bot serve` and the bare baselines.

A `Spawned` process is read from the outside: RSS from /proc/PID/status (VmRSS), CPU time from
/proc/PID/stat (user + system, all threads), stderr kept in a log file in the run's folder.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parent.parent
TELEGRAM_TOKEN = "123456:BENCH-relai-token"
TELEGRAM_SECRET = "bench-webhook-secret"
TWO_WAY = "+262939001122"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# Provider pacing relaxed, the same for every system: the figures measure the stacks, not the limits
RELAXED_PACING = {
    "RELAI_TELEGRAM_RATE": "1000",
    "RELAI_TELEGRAM_CHAT_INTERVAL": "0.02",
    "RELAI_TELEGRAM_CHAT_BURST": "20",
    "RELAI_SMS_RATE": "1000",
}
FAKE_TELEGRAM_LIMITS: dict[str, Any] = {
    "token": TELEGRAM_TOKEN,
    "per_chat_rate": 50.0,
    "per_chat_burst": 20,
    "global_rate": 1000.0,
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Spawned:
    """A system under test running in its own process."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    base_url: str | None  # http://127.0.0.1:PORT when it listens
    spawned_at: float  # time.monotonic() just before the spawn

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss_mib(self) -> float:
        """VmRSS of the process now, in MiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def cpu_seconds(self) -> float:
        """User + system CPU time used so far by the process (all its threads)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def errors_logged(self) -> int:
        """Lines of the log that tell of an error (tracebacks, ERROR records)."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return sum(1 for line in text.splitlines() if "Traceback" in line or " ERROR " in line or "ERROR:" in line)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    async def wait_healthy(self, timeout: float = 30.0) -> float:
        """Poll GET /healthz every 5 ms until a 200; returns the time from the spawn, in seconds."""
        assert self.base_url is not None
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if not self.alive():
                    raise RuntimeError(f"{self.name} exited ({self.process.returncode}):\n{self.log_tail()}")
                try:
                    async with http.get(self.base_url + "/healthz", timeout=aiohttp.ClientTimeout(total=2)) as r:
                        if r.status == 200:
                            return time.monotonic() - self.spawned_at
                except (aiohttp.ClientError, TimeoutError):
                    pass
                await asyncio.sleep(0.005)
        raise TimeoutError(f"{self.name} not healthy after {timeout:.0f} s:\n{self.log_tail()}")


def spawn(
    name: str, argv: list[str], folder: Path, *, env: Mapping[str, str] | None = None, port: int | None = None
) -> Spawned:
    log_path = folder / f"{name}.{time.monotonic_ns()}.log"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("RELAI_")}
    environment.update(env or {})
    environment["PYTHONUNBUFFERED"] = "1"
    with log_path.open("wb") as log:
        started = time.monotonic()
        process = subprocess.Popen(argv, cwd=REPO, env=environment, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}" if port else None
    return Spawned(name, process, log_path, base_url, started)


def relai_executable() -> str:
    beside = Path(sys.executable).parent / "relai-bot"
    return str(beside) if beside.exists() else (shutil.which("relai-bot") or "relai-bot")


def relai_env(database: Path, port: int, **extra: str) -> dict[str, str]:
    return {
        "RELAI_DATABASE_URL": f"sqlite:///{database}",
        "RELAI_HOST": "127.0.0.1",
        "RELAI_PORT": str(port),
        **RELAXED_PACING,
        **extra,
    }


def spawn_relai(
    folder: Path,
    database: Path,
    *,
    telegram_api: str | None = None,
    webhook: bool = False,
    twilio: tuple[str, str, str] | None = None,
) -> Spawned:
    """`relai-bot serve` on `database`: Telegram (polling, or webhook with `webhook`) and/or SMS (`twilio`:
    account SID, auth token, API URL); a webhook or SMS sets RELAI_PUBLIC_URL to its own address."""
    port = free_port()
    extra: dict[str, str] = {}
    if telegram_api is not None:
        extra |= {
            "RELAI_TELEGRAM_TOKEN": TELEGRAM_TOKEN,
            "RELAI_TELEGRAM_API_URL": telegram_api,
            "RELAI_TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET,
        }
    if twilio is not None:
        sid, token, api = twilio
        extra |= {
            "RELAI_TWILIO_ACCOUNT_SID": sid,
            "RELAI_TWILIO_AUTH_TOKEN": token,
            "RELAI_TWILIO_FROM": TWO_WAY,
            "RELAI_TWILIO_API_URL": api,
        }
    if webhook or twilio is not None:
        extra["RELAI_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
    return spawn("relai", [relai_executable(), "serve"], folder, env=relai_env(database, port, **extra), port=port)


def spawn_echo_bot(folder: Path, telegram_api: str, *, webhook: bool, concurrent: int = 1) -> Spawned:
    argv = [sys.executable, "-m", "bench.baselines.echo_bot", "webhook" if webhook else "polling"]
    argv += ["--concurrent", str(concurrent)]
    argv += ["--api-url", telegram_api, "--token", TELEGRAM_TOKEN]
    port = None
    if webhook:
        port = free_port()
        argv += ["--port", str(port), "--secret", TELEGRAM_SECRET]
    return spawn("echo-bot", argv, folder, port=port)


def spawn_sms_app(folder: Path, auth_token: str) -> Spawned:
    port = free_port()
    argv = [sys.executable, "-m", "bench.baselines.sms_app", "--port", str(port), "--auth-token", auth_token]
    argv += ["--public-url", f"http://127.0.0.1:{port}"]
    return spawn("sms-app", argv, folder, port=port)
