"""Checks on the shipped seed file (src/relai_bot/seed/demo.yaml): shape, bookability and SMS-safe text."""

from __future__ import annotations

import re
from datetime import datetime, time

import pytest
import yaml

from relai_bot.seed.schema import OpeningSeed, SeedFile
from tests.paths import PACKAGE

SEED_PATH = PACKAGE / "seed" / "demo.yaml"

# Characters that push an SMS out of GSM-7 for no good reason, or that we simply do not want.
FORBIDDEN_CHARS = {
    "\u2018": "left single quotation mark",
    "\u2019": "right single quotation mark (curly apostrophe)",
    "\u02bc": "modifier letter apostrophe",
    "\u00ab": "guillemet \u00ab",
    "\u00bb": "guillemet \u00bb",
    "\u201c": "left double quotation mark",
    "\u201d": "right double quotation mark",
    "\u00a0": "non-breaking space",
    "\u202f": "narrow non-breaking space",
    "\u2026": "ellipsis character",
}

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
KEYWORD = re.compile(r"^[a-z0-9]+(?:[ -][a-z0-9]+)*$")
LOGIN = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


@pytest.fixture(scope="module")
def raw_text() -> str:
    return SEED_PATH.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def seed(raw_text: str) -> SeedFile:
    return SeedFile.model_validate(yaml.safe_load(raw_text))


def _minutes(value: time) -> int:
    return value.hour * 60 + value.minute


def test_file_is_valid_and_declares_spec_1(raw_text: str, seed: SeedFile) -> None:
    assert seed.spec == 1
    assert seed.weeks_of_slots == 4
    first_key = next(line for line in raw_text.splitlines() if line.strip() and not line.startswith("#"))
    assert first_key == "spec: 1"


def test_counts(seed: SeedFile) -> None:
    assert 20 <= len(seed.schemes) <= 25
    assert 9 <= len(seed.districts) <= 10
    assert 6 <= len(seed.advisers) <= 8


def test_every_local_scheme_can_be_booked(seed: SeedFile) -> None:
    """A local scheme is bookable when an adviser who handles it holds openings at one of its venues."""
    unbookable = []
    for scheme in seed.schemes:
        if not scheme.available_locally:
            continue
        bookable = any(
            scheme.code in adviser.schemes and any(o.venue in scheme.venues for o in adviser.openings)
            for adviser in seed.advisers
        )
        if not bookable:
            unbookable.append(scheme.code)
    assert unbookable == []


def test_schemes_not_available_locally_offer_no_venue(seed: SeedFile) -> None:
    for scheme in seed.schemes:
        if not scheme.available_locally:
            assert scheme.venues == [], scheme.code
            assert not any(scheme.code in a.schemes for a in seed.advisers), scheme.code


def test_summaries_are_short(seed: SeedFile) -> None:
    too_long = {s.code: len(s.summary) for s in seed.schemes if len(s.summary) > 160}
    assert too_long == {}


def test_keywords_are_lowercase_ascii_without_accents(seed: SeedFile) -> None:
    for scheme in seed.schemes:
        assert 10 <= len(scheme.keywords) <= 20, scheme.code
        bad = [k for k in scheme.keywords if not (k.isascii() and KEYWORD.match(k))]
        assert bad == [], f"{scheme.code}: {bad}"


def test_district_codes_are_short_slugs_with_aliases(seed: SeedFile) -> None:
    for district in seed.districts:
        assert len(district.code) <= 20, district.code
        assert SLUG.match(district.code), district.code
        assert district.aliases, district.code


def test_qpv_districts_and_targeted_schemes(seed: SeedFile) -> None:
    qpv = {d.code for d in seed.districts if d.qpv}
    assert qpv == {"saint-laurent", "moulin-joli", "riviere-des-galets"}
    citeslab = next(s for s in seed.schemes if s.code == "citeslab")
    assert citeslab.districts != "all"
    assert set(citeslab.districts) <= qpv


def test_openings_are_within_working_hours(seed: SeedFile) -> None:
    for adviser in seed.advisers:
        for opening in adviser.openings:
            start, end = _minutes(opening.start), _minutes(opening.end)
            assert 8 * 60 <= start < end <= 17 * 60, (adviser.code, opening)
            assert (end - start) % opening.slot_minutes == 0, (adviser.code, opening)


def test_one_weekly_group_information_meeting_and_one_one_off_session(seed: SeedFile) -> None:
    groups = [o for a in seed.advisers for o in a.openings if o.capacity > 1]
    assert [o.weekday is None for o in groups].count(False) == 1
    once = [o for o in groups if o.weekday is None]
    assert len(once) == 1 and once[0].on_date is not None
    assert all(o.slot_minutes == 120 for o in groups)


@pytest.mark.parametrize("when", [{}, {"weekday": "mon", "date": "2026-12-17"}])
def test_an_opening_is_weekly_or_once(when: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="a weekday"):
        OpeningSeed.model_validate({"start": "09:00", "end": "10:00", "venue": "x", "slot_minutes": 30} | when)
    opening = OpeningSeed.model_validate(
        {"date": "2026-12-17", "start": "09:00", "end": "10:00", "venue": "x", "slot_minutes": 30}
    )
    assert opening.on_date is not None and opening.weekday is None


def test_remote_venue_is_used(seed: SeedFile) -> None:
    remote = {v.code for v in seed.venues if v.remote}
    assert remote
    assert any(o.venue in remote for a in seed.advisers for o in a.openings)
    for venue in seed.venues:
        if venue.remote:
            assert venue.address is None


def test_phone_numbers_are_fictitious(seed: SeedFile) -> None:
    for venue in seed.venues:
        if venue.phone is not None:
            assert re.fullmatch(r"\+262 262 00 00 0\d", venue.phone), venue.code


def test_staff_logins(seed: SeedFile) -> None:
    logins = [p.login for p in seed.staff]
    assert len(logins) == len(set(logins))
    for login in logins:
        assert login.isascii() and LOGIN.match(login), login
    roles = [p.role for p in seed.staff]
    assert roles.count("admin") >= 1
    adviser_logins = {p.adviser for p in seed.staff if p.role == "adviser"}
    assert adviser_logins == {a.code for a in seed.advisers}


def test_no_curly_quotes_guillemets_or_nbsp(raw_text: str) -> None:
    found = {
        f"line {number}: {label}"
        for number, line in enumerate(raw_text.splitlines(), start=1)
        for char, label in FORBIDDEN_CHARS.items()
        if char in line
    }
    assert found == set()


def test_times_are_quoted_strings(raw_text: str) -> None:
    # Unquoted 13:30 is read by YAML 1.1 as the integer 810; only quoted times are safe.
    data = yaml.safe_load(raw_text)
    for adviser in data["advisers"]:
        for opening in adviser["openings"]:
            for key in ("start", "end"):
                assert isinstance(opening[key], str), (adviser["code"], opening)
                datetime.strptime(opening[key], "%H:%M")
