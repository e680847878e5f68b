"""Send a broadcast from the back-office and watch it reach phones, with no provider account.

    .venv/bin/python -m tools.broadcast_demo [--port 8000]

Runs `relai-bot serve`'s app (both channels, the scheduler, the outbox worker) on a temporary SQLite database,
with Telegram and Twilio played by the project's fake servers on 127.0.0.1 (python-telegram-bot and twilio
run for real against them). It adds four fictional residents (Saint-Laurent: two on Telegram, Marie by SMS;
Pichette: one on Telegram) and a staff account for Saint-Laurent whose password it prints. Sign in at the
printed address, write a broadcast to Saint-Laurent, send it: each message that reaches a fake phone is
printed here, and each SMS is reported delivered two seconds later, as Twilio would. Quiet hours are off,
so it works at night too. Ctrl-C stops everything; nothing is kept.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import tempfile
from pathlib import Path

from tests.provider_stack import Site, add_fictional_residents, report_sms_delivered, serving_with_fake_providers

from relai_bot.clock import SystemClock
from relai_bot.services import accounts

EMAIL = "agent.saint-laurent@demo.invalid"


async def watch(site: Site) -> None:
    """Print each message as a fake phone receives it."""
    shown_telegram = shown_sms = 0
    while True:
        sent = site.telegram.sent_messages()
        for call in sent[shown_telegram:]:
            text = call.result.get("text", "") if isinstance(call.result, dict) else ""
            print(f"\n[Telegram, chat {call.chat_id}]\n{text}", flush=True)
        shown_telegram = len(sent)
        for message in site.twilio.messages[shown_sms:]:
            print(
                f"\n[SMS to {message.to}, {message.segments} part(s), {message.encoding}]\n{message.body}", flush=True
            )
        shown_sms = len(site.twilio.messages)
        await asyncio.sleep(0.5)


async def run(port: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'demo.sqlite3'}"
        async with serving_with_fake_providers(url, SystemClock(), port=port, quiet_hours="off") as site:
            add_fictional_residents(site.runtime)
            password = secrets.token_urlsafe(12)
            with site.runtime.db.transaction() as session:
                accounts.create_account(
                    session,
                    email=EMAIL,
                    name="Agent de Saint-Laurent (démo)",
                    role="staff",
                    districts=["saint-laurent"],
                    now=site.runtime.clock.now(),
                    password=password,
                )
            print(f"Back-office: {site.url}/admin  (sign in as {EMAIL}, password {password})")
            print("Residents: Saint-Laurent 2 on Telegram + Marie by SMS; Pichette 1 on Telegram (fictional).")
            print("Write a broadcast to Saint-Laurent and send it; what the phones receive shows here.", flush=True)
            tasks = [asyncio.create_task(watch(site)), asyncio.create_task(report_sms_delivered(site))]
            try:
                await asyncio.Event().wait()
            finally:
                for task in tasks:
                    task.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args.port))


if __name__ == "__main__":
    main()
