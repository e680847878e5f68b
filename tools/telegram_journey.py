"""Watch `relai-bot serve` run a resident's whole journey on Telegram by buttons alone.

    .venv/bin/python -m tools.telegram_journey

Starts the project's fake Bot API server (tests/fakes/telegram_api.py) and `relai-bot serve` pointed at it
(RELAI_TELEGRAM_TOKEN + RELAI_TELEGRAM_API_URL, polling mode, a temporary SQLite database), then plays a
resident: /start, consent, district, book, "Mes rendez-vous", cancel — pressing the inline buttons the bot
sent. Prints each exchange and, at the end, what the fake server refused (nothing, if all is well).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CHAT = 4242
TOKEN = "123456:JOURNEY"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call(url: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def wait_for(predicate, seconds: float = 30.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except OSError:  # not listening yet
            value = None
        if value:
            return value
        time.sleep(0.1)
    raise TimeoutError("the bot did not answer in time")


def main() -> int:
    fake_port, app_port = free_port(), free_port()
    control = f"http://127.0.0.1:{fake_port}/_fake"
    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as folder:
        fake = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.telegram_api", "--port", str(fake_port), "--token", TOKEN],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        env = {
            **os.environ,
            "RELAI_DATABASE_URL": f"sqlite:///{folder}/journey.sqlite3",
            "RELAI_PORT": str(app_port),
            "RELAI_TELEGRAM_TOKEN": TOKEN,
            "RELAI_TELEGRAM_API_URL": f"http://127.0.0.1:{fake_port}/bot",
            "RELAI_TELEGRAM_POLL_SECONDS": "1",
        }
        serve = subprocess.Popen(
            [str(bin_dir / "relai-bot"), "serve"],
            cwd=folder,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for(lambda: any(c["method"] == "getUpdates" for c in call(f"{control}/calls")), 60)
            seen = 0

            def replies() -> list[dict[str, Any]]:
                calls = call(f"{control}/calls")
                return [c for c in calls if c["method"] in ("sendMessage", "sendDocument") and c["chat_id"] == CHAT]

            def exchange(body: dict[str, Any], label: str) -> dict[str, Any]:
                nonlocal seen
                call(f"{control}/updates", {"chat_id": CHAT, **body})
                # A turn ends with the message that carries the buttons (messages are paced: 1/s per chat)
                new = wait_for(
                    lambda: (
                        (r := replies())[seen:]
                        and "inline_keyboard" in (r[-1]["params"].get("reply_markup") or {})
                        and r
                    )
                )
                time.sleep(0.3)  # a contact-request keyboard may follow a booking
                new = replies()
                print(f"\n> {label}")
                for message in new[seen:]:
                    params = message["params"]
                    print(
                        "  " + (params.get("text") or f"[{params.get('document', 'document')}]").replace("\n", "\n  ")
                    )
                    for row in (params.get("reply_markup") or {}).get("inline_keyboard", []):
                        print("    [" + " | ".join(b["text"] for b in row) + "]")
                seen = len(new)
                return next(
                    m["params"] for m in reversed(new) if "inline_keyboard" in (m["params"].get("reply_markup") or {})
                )

            def press(last: dict[str, Any], starts: str) -> dict[str, Any]:
                buttons = [b for row in last["reply_markup"]["inline_keyboard"] for b in row]
                button = next(b for b in buttons if b["text"].startswith(starts))
                return exchange({"callback_data": button["callback_data"]}, f"(touche « {button['text']} »)")

            last = exchange({"text": "/start saint-laurent"}, "/start saint-laurent")
            last = press(last, "Oui, je suis d'accord")
            last = press(last, "Oui")
            last = press(last, "Plus tard")
            last = press(last, "Prendre rendez-vous")
            last = press(last, "Je ne sais pas")
            last = (
                press(last, "mardi")
                if any(b["text"].startswith("mardi") for r in last["reply_markup"]["inline_keyboard"] for b in r)
                else press(last, last["reply_markup"]["inline_keyboard"][0][0]["text"])
            )
            last = press(last, "Oui, je réserve")
            last = press(last, "Mes rendez-vous")
            last = press(last, last["reply_markup"]["inline_keyboard"][0][0]["text"])
            last = press(last, "Annuler ce rendez-vous")
            last = press(last, "Oui, j'annule")
            violations = call(f"{control}/violations")
            print(f"\ncalls Telegram would have refused: {len(violations)}")
            for violation in violations:
                print("  ", violation)
            return 1 if violations else 0
        finally:
            serve.terminate()
            fake.terminate()
            serve.wait(10)
            fake.wait(10)


if __name__ == "__main__":
    sys.exit(main())
