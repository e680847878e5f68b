"""Every text a resident can read, rendered as the flows render it: each template variant (.j2, .sms.j2,
.telegram.j2) once per scheme and once per venue of the seed, the labels, and the seed's own texts.

Each function takes a `language` (a folder of templates/messages, tests.template_samples.LANGUAGES): the
texts a resident of that language reads: a scheme's name, summary and details in it (the seed's `texts`),
the other seed values (amounts, operators, places) as the seed has them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from relai_bot.conversation.render import Renderer
from relai_bot.seed.load import read_seed
from relai_bot.seed.schema import SchemeTextSeed
from tests.template_samples import LANGUAGE, _renderer, sample_context, scheme_text, template_names

# The channel that shows each variant file ("console" has no variant of its own: it shows the .j2)
VARIANTS = {".j2": "console", ".sms.j2": "sms", ".telegram.j2": "telegram"}
# Seed fields a resident may read (confirmations, the scheme's page, the .ics file)
SCHEME_FIELDS = ("name", "summary", "details", "amount", "operator")
VENUE_FIELDS = ("name", "town", "address", "opening_hours", "accessibility")


@dataclass(frozen=True)
class Text:
    where: str  # "discovery/detail.sms.j2 [scheme cej]", "label menu.find", "scheme cej: details"
    text: str
    shown_before: str = ""  # what the resident read just above (a scheme's label above its summary)


@cache
def renderer() -> Renderer:
    return _renderer()


def variants(name: str, language: str = LANGUAGE) -> list[tuple[str, str]]:
    """(file suffix, channel) of each variant file of a template in a language."""
    root = Path(renderer().root) / language
    return [(suffix, channel) for suffix, channel in VARIANTS.items() if (root / f"{name}{suffix}").is_file()]


def subjects() -> list[tuple[str, str | None, str | None]]:
    """(label, scheme code, venue code): each scheme, then each venue, of the seed."""
    seed = read_seed()
    return [(f"scheme {s.code}", s.code, None) for s in seed.schemes] + [
        (f"venue {v.code}", None, v.code) for v in seed.venues
    ]


def rendered_templates(language: str = LANGUAGE) -> Iterator[Text]:
    """Each template file of the language (its own files only: none that falls back to French)."""
    # variants come from `variants`
    names = sorted({name.removesuffix(".telegram") for name in template_names(language)})
    for subject, scheme_code, venue_code in subjects():
        context = sample_context(scheme_code, venue_code, language)
        for name in names:
            for suffix, channel in variants(name, language):
                text = renderer().render(name, language=language, channel=channel, context=context)
                yield Text(f"{name}{suffix} [{subject}]", text)


def labels(language: str = LANGUAGE) -> Iterator[Text]:
    context = sample_context(language=language)
    for key in renderer().labels[language]:
        yield Text(f"label {key}", renderer().label(key, language, context))


def scheme_texts(language: str = LANGUAGE) -> Iterator[Text]:
    """The summary and the details a resident of `language` reads under the scheme's name."""
    for s in read_seed().schemes:
        text = scheme_text(s, language)
        title = f"{text.name} ({s.acronym})" if s.acronym else text.name
        yield Text(f"scheme {s.code}: summary", text.summary, shown_before=title)
        yield Text(f"scheme {s.code}: details", text.details, shown_before=f"{title}\n{text.summary}")


def seed_fields(language: str = LANGUAGE) -> Iterator[Text]:
    seed = read_seed()
    for s in seed.schemes:
        text = scheme_text(s, language)
        for field in SCHEME_FIELDS:
            value = getattr(text, field) if field in SchemeTextSeed.model_fields else getattr(s, field)
            yield Text(f"scheme {s.code}: {field}", str(value or ""))
    for v in seed.venues:
        for field in VENUE_FIELDS:
            yield Text(f"venue {v.code}: {field}", str(getattr(v, field) or ""))
