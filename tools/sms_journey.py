"""Watch `relai-bot serve` run a resident's booking by SMS, STOP included, and what each SMS costs.

    .venv/bin/python -m tools.sms_journey
    .venv/bin/python -m tools.sms_journey --language rcf     # the same booking in Réunion Creole

Runs the project's fake Twilio REST server (tests/fakes/twilio_api.py) in this process and starts
`relai-bot serve` pointed at it (RELAI_TWILIO_* and RELAI_PUBLIC_URL, a temporary SQLite database). Then it
texts like a resident: signed inbound webhooks, exactly as Twilio would send them, answered by numbers —
consent, district, book, "Mes rendez-vous", cancel, then STOP and one more message (which must get no
answer). Prints each exchange with the segments of every SMS, then the segments of every SMS of the
journey, their maximum and their mean, and what the fake server refused. With `--language rcf` the
resident writes in Réunion Creole from the first message ("bonjour, mi rode in travay"), so the relai
answers in Creole, and answers with the Creole words ("wi", "anil"); the same steps, the same limits.

Exits with 1 if an SMS takes more than MAX_SEGMENTS segments, if the mean reaches MAX_MEAN, or if the
fake server refused a request.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import mean

import httpx
from tests.fakes.twilio_api import FakeTwilioServer, inbound_sms_params, signed_form

from relai_bot.channels.sms.encoding import measure

REPO = Path(__file__).resolve().parents[1]
RESIDENT = "+262692123456"
SERVICE = "+262939001122"
# What the resident texts, in order: consent, offers yes, Saint-Laurent, the profile later, "Prendre
# rendez-vous", "Je ne sais pas", the first slot, yes, "Mes rendez-vous", the first, cancel it, yes.
BOOKING = ("Bonjour", "1", "1", "2", "2", "2", "1", "1", "oui", "1", "1", "annuler", "oui")
# The same booking in Réunion Creole. A first message in Creole makes the resident Creole (conversation/
# language_choice.py); it also says what they want (a job: the "find" intent), so after consent the relai
# goes straight to the search and leaves the offers, district and profile questions for later. The
# resident then answers 0 for the menu and books as in French: "Pran randévou", "Mi koné pa", the first
# slot, "wi", "Mon bann randévou", the first, cancel it ("anil"), "wi" (rcf/keywords.yaml).
BOOKING_RCF = ("bonjour, mi rode in travay", "1", "0", "2", "1", "1", "wi", "1", "1", "anil", "wi")
BOOKINGS = {"fr": BOOKING, "rcf": BOOKING_RCF}
# Every SMS of a booking fits in this many segments of GSM-7, and their mean stays below MAX_MEAN
MAX_SEGMENTS = 2
MAX_MEAN = 1.5


@dataclass(frozen=True)
class Figures:
    """The segments of each SMS of a journey, in order."""

    segments: tuple[int, ...]

    @classmethod
    def of(cls, bodies: Sequence[str]) -> Figures:
        return cls(tuple(measure(body).segments for body in bodies))

    @property
    def max(self) -> int:
        return max(self.segments, default=0)

    @property
    def mean(self) -> float:
        return mean(self.segments) if self.segments else 0.0

    @property
    def short_enough(self) -> bool:
        return self.max <= MAX_SEGMENTS and self.mean < MAX_MEAN

    def __str__(self) -> str:
        counts = " ".join(str(s) for s in self.segments)
        verdict = "ok" if self.short_enough else f"TOO LONG (at most {MAX_SEGMENTS}, mean under {MAX_MEAN})"
        return (
            f"{len(self.segments)} SMS, segments per SMS: {counts}\n"
            f"max {self.max}, mean {self.mean:.2f}, {sum(self.segments)} segments in all: {verdict}"
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def main(language: str = "fr") -> int:
    booking = BOOKINGS[language]
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    async with FakeTwilioServer() as twilio:
        with tempfile.TemporaryDirectory() as folder:
            env = {
                **os.environ,
                "RELAI_DATABASE_URL": f"sqlite:///{folder}/journey.sqlite3",
                "RELAI_PORT": str(port),
                "RELAI_PUBLIC_URL": public,
                "RELAI_TWILIO_ACCOUNT_SID": twilio.account_sid,
                "RELAI_TWILIO_AUTH_TOKEN": twilio.auth_token,
                "RELAI_TWILIO_FROM": SERVICE,
                "RELAI_TWILIO_API_URL": twilio.base_url,
            }
            serve = subprocess.Popen(
                [str(Path(sys.executable).with_name("relai-bot")), "serve"],
                cwd=folder,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                async with httpx.AsyncClient(timeout=10) as http:
                    deadline = time.monotonic() + 60
                    while time.monotonic() < deadline:
                        try:
                            if (await http.get(f"{public}/healthz")).status_code == 200:
                                break
                        except httpx.TransportError:
                            pass
                        await asyncio.sleep(0.2)
                    url = f"{public}/webhooks/twilio/sms"

                    async def text(body: str, expect_answer: bool = True) -> None:
                        before = len(twilio.messages)
                        params = inbound_sms_params(RESIDENT, SERVICE, body, account_sid=twilio.account_sid)
                        headers = signed_form(url, twilio.auth_token, params)
                        response = await http.post(url, data=params, headers=headers)
                        assert response.status_code == 200, response.status_code
                        if expect_answer:
                            await twilio.wait_for_messages(before + 1, timeout=15)
                            await asyncio.sleep(0.3)  # a reply split in several SMS
                        else:
                            await asyncio.sleep(1.5)
                        print(f"\n> {body}")
                        for message in twilio.messages[before:]:
                            m = measure(message.body)
                            print(f"  [{m.encoding}, {m.segments} segment(s), {m.characters} characters]")
                            print("  " + message.body.replace("\n", "\n  "))
                        if not expect_answer:
                            print("  (no answer: the number is stopped)" if len(twilio.messages) == before else "  !!")

                    forged = await http.post(url, data=inbound_sms_params(RESIDENT, SERVICE, "bonjour"))
                    print(f"forged webhook (no signature): HTTP {forged.status_code}")
                    for body in booking:
                        await text(body)
                    await text("STOP")
                    await text("bonjour", expect_answer=False)
                    figures = Figures.of([m.body for m in twilio.messages if m.to == RESIDENT])
                    print(f"\n[{language}] {figures}")
                    print(f"requests the fake Twilio refused: {len(twilio.violations)}")
                    return 0 if figures.short_enough and not twilio.violations else 1
            finally:
                serve.terminate()
                serve.wait(10)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.sms_journey", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--language", choices=sorted(BOOKINGS), default="fr", help="the resident's language (default: fr)"
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args().language)))
