"""How long staff wait for the broadcast preview, for a large district, through the back-office's page.

    .venv/bin/python -m bench.bench_composer [--residents 5000] [--requests 20] [--database sqlite|postgres]

Residents of Saint-Laurent, half on Telegram and half by SMS, each with a different first name (the worst
case for a text with {{ prenom }}: the SMS cost is computed for each distinct rendering). A staff member
signed in to /admin asks for the live preview (the htmx fragment, POST /admin/broadcasts/preview) again and
again, with a plain text and with a personalised one; prints latency percentiles and the figures shown.
"""

from __future__ import annotations

import argparse
import re
import time
import warnings

from sqlmodel import col, select
from starlette.exceptions import StarletteDeprecationWarning
from tests.delivery_support import add_residents

from bench._common import max_rss_mib, percentiles, seeded_runtime
from relai_bot.services import accounts
from relai_bot.store.models import ChannelAddress, Resident
from relai_bot.web.app import create_app
from relai_bot.wiring import Runtime

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

EMAIL, PASSWORD = "bench@mairie.re", "un mot de passe de banc d'essai"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
TEXTS = {
    "plain": "Forum de l'emploi samedi 9 h à la médiathèque : venez avec votre CV.",
    "personalised": "Bonjour {{ prenom }} ! Forum de l'emploi samedi 9 h à {{ quartier }} : venez avec votre CV.",
}


def populate(runtime: Runtime, count: int) -> None:
    now = runtime.clock.now()
    with runtime.db.transaction() as session:
        add_residents(session, count // 2, now, first_address=5_000_000)
        sms = add_residents(session, count - count // 2, now, channel="sms", first_address=1)
        for n, address in enumerate(
            session.exec(select(ChannelAddress).where(col(ChannelAddress.resident_id).in_(sms)))
        ):
            address.address = f"+26269{n:07d}"
        for n, resident in enumerate(session.exec(select(Resident))):
            resident.display_name = f"Prénom{n}"
        accounts.create_account(session, email=EMAIL, name="Banc", role="admin", now=now, password=PASSWORD)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    with seeded_runtime(args.database, admin_secret_key="bench-secret-0123456789-0123456789-xx") as runtime:
        populate(runtime, args.residents)
        with TestClient(create_app(runtime, with_scheduler=False), base_url="http://bench") as client:
            page = client.get("/admin/login").text
            token = CSRF.search(page)
            assert token is not None
            client.post("/admin/login", data={"email": EMAIL, "password": PASSWORD, "csrf": token.group(1)})
            token = CSRF.search(client.get("/admin/broadcasts/new").text)
            assert token is not None
            for name, text in TEXTS.items():
                form = {"csrf": token.group(1), "districts": "saint-laurent", "text": text, "when": "now"}
                samples = []
                body = ""
                for _ in range(args.requests):
                    started = time.perf_counter()
                    answer = client.post("/admin/broadcasts/preview", data=form)
                    samples.append((time.perf_counter() - started) * 1000)
                    assert answer.status_code == 200
                    body = answer.text
                headline = re.search(r'<p class="headline">([^<]+)</p>', body)
                cost = re.search(r"<strong>([0-9.]+ EUR)</strong>", body)
                print(
                    f"{name:>12}: {args.residents} residents ({args.database}), preview {percentiles(samples)}; "
                    f"shown: {' '.join((headline.group(1) if headline else '?').split())} "
                    f"SMS cost {cost.group(1) if cost else '?'}"
                )
    print(f"max RSS: {max_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
