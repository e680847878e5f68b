"""/admin/dashboard per role: admins see every district, staff theirs only, advisers are refused; the charts
are SVG images without script; every table exports as CSV with the same filters; bad dates are explained."""

from __future__ import annotations

import csv
import io
import re

import pytest

from relai_bot.wiring import Runtime
from tests.services.dashboard_support import make_activity
from tests.web.admin_support import admin_browser, make_account

PERIOD = {"du": "2026-11-23", "au": "2026-12-20"}
TABLES = ("habitants", "nouveaux", "rendez-vous", "absences", "diffusions", "dispositifs")


def test_admins_see_every_district_with_charts_tables_and_csv(runtime: Runtime) -> None:
    make_account(runtime, "admin@mairie.re")
    make_activity(runtime)
    with admin_browser(runtime) as browser:
        browser.log_in("admin@mairie.re")
        page = browser.get("/admin/dashboard", params=PERIOD)
        assert page.status_code == 200
        text = page.text
        for name in ("Saint-Laurent", "Pichette", "Moulin Joli", "Sans quartier"):
            assert f'<th scope="row">{name}</th>' in text
        assert text.count("<caption>") == len(TABLES) and text.count('<img class="chart"') == len(TABLES)
        assert "Rappel reçu : au moins un rappel" in text and 'alt="Graphique : ' in text
        assert "À revérifier (" in text  # services/catalog_review.due_for_review
        for name in TABLES:
            assert f"/admin/dashboard.csv?du=2026-11-23&amp;au=2026-12-20&amp;table={name}" in text
            chart = browser.get("/admin/dashboard/chart.svg", params={**PERIOD, "table": name})
            assert chart.status_code == 200 and chart.headers["content-type"].startswith("image/svg+xml")
            assert chart.text.startswith("<svg") and "<script" not in chart.text and "<title>" in chart.text
            assert "script-src" not in chart.headers["content-security-policy"]
        export = browser.get("/admin/dashboard.csv", params={**PERIOD, "table": "habitants"})
        assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(export.text)))
        assert rows[0] == ["Quartier", "SMS", "Telegram", "Total"]
        assert ["Saint-Laurent", "2", "2", "3"] in rows and ["Sans quartier", "0", "1", "1"] in rows
        funnel = list(
            csv.reader(io.StringIO(browser.get("/admin/dashboard.csv", params={**PERIOD, "table": "dispositifs"}).text))
        )
        cej = next(row for row in funnel if row[0].startswith("Contrat d"))
        assert cej[1:] == ["7", "5", "3", "1"]
        assert browser.get("/admin/dashboard.csv", params={**PERIOD, "table": "autre"}).status_code == 404


def test_staff_see_their_districts_only(runtime: Runtime) -> None:
    make_account(runtime, "agent@mairie.re", "staff", districts=["saint-laurent"])
    make_activity(runtime)
    with admin_browser(runtime) as browser:
        browser.log_in("agent@mairie.re")
        # (the figures; the "À revérifier" list after them names the commune's venues, whoever reads it)
        text = browser.get("/admin/dashboard", params=PERIOD).text.split('id="a-reverifier"')[0]
        assert '<th scope="row">Saint-Laurent</th>' in text
        assert "Pichette" not in text and "Sans quartier" not in text and "Moulin Joli" not in text
        assert 'name="quartier" value="saint-laurent"' in text and 'value="pichette"' not in text
        # Another district asked for in the address: nothing of it
        other = browser.get("/admin/dashboard", params={**PERIOD, "quartier": "pichette"}).text.split("a-reverifier")[0]
        assert "Pichette" not in other and '<th scope="row">Saint-Laurent</th>' not in other
        export = browser.get("/admin/dashboard.csv", params={**PERIOD, "table": "diffusions", "quartier": "pichette"})
        assert list(csv.reader(io.StringIO(export.text)))[1:] == []
        chart = browser.get("/admin/dashboard/chart.svg", params={**PERIOD, "table": "habitants"}).text
        assert "Saint-Laurent" in chart and "Pichette" not in chart


def test_the_district_filter_narrows_an_admins_figures(runtime: Runtime) -> None:
    make_account(runtime, "admin@mairie.re")
    make_activity(runtime)
    with admin_browser(runtime) as browser:
        browser.log_in("admin@mairie.re")
        text = browser.get("/admin/dashboard", params={**PERIOD, "quartier": ["pichette", "moulin-joli"]}).text
        rows = re.findall(r'<th scope="row">([^<]+)</th>', text.split("<caption>")[1].split("</table>")[0])
        assert rows == ["Moulin Joli", "Pichette"]
        assert 'value="pichette" checked' in text and 'value="saint-laurent">' in text


@pytest.mark.parametrize(
    ("du", "au", "message"),
    [
        ("2026-13-01", "2026-12-20", "AAAA-MM-JJ"),
        ("2026-12-20", "2026-12-01", "doit venir après la date de début"),
        ("2020-01-01", "2026-12-01", "deux ans au plus"),
    ],
)
def test_bad_dates_are_explained_beside_the_field(runtime: Runtime, du: str, au: str, message: str) -> None:
    make_account(runtime, "admin@mairie.re")
    with admin_browser(runtime) as browser:
        browser.log_in("admin@mairie.re")
        page = browser.get("/admin/dashboard", params={"du": du, "au": au})
        assert page.status_code == 400 and message in page.text and 'aria-invalid="true"' in page.text
        assert "<caption>" not in page.text
        assert browser.get("/admin/dashboard.csv", params={"du": du, "au": au, "table": "habitants"}).status_code == 404


def test_the_default_period_is_the_last_eight_weeks(runtime: Runtime) -> None:
    make_account(runtime, "admin@mairie.re")
    with admin_browser(runtime) as browser:
        browser.log_in("admin@mairie.re")
        text = browser.get("/admin/dashboard").text
        # Tuesday 1 December 2026: from Monday 12 October
        assert 'value="2026-10-12"' in text and 'value="2026-12-01"' in text
        assert "sem. 42 (12/10-18/10)" in text and "sem. 49 (30/11-01/12)" in text


def test_advisers_and_visitors_are_refused(runtime: Runtime) -> None:
    make_account(runtime, "conseil@mairie.re", "adviser")
    with admin_browser(runtime) as browser:
        for path in (
            "/admin/dashboard",
            "/admin/dashboard.csv?table=habitants",
            "/admin/dashboard/chart.svg?table=habitants",
        ):
            assert browser.get(path).headers["location"].startswith("/admin/login")
        browser.log_in("conseil@mairie.re")
        for path in (
            "/admin/dashboard",
            "/admin/dashboard.csv?table=habitants",
            "/admin/dashboard/chart.svg?table=habitants",
        ):
            refused = browser.get(path)
            assert refused.status_code == 403 and "<svg" not in refused.text
