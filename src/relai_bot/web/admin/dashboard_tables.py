"""The dashboard's figures as staff read them: one table per figure (French headings, the same rows for the
page, the CSV and the chart), and each chart as an SVG drawn by pygal without JavaScript."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from relai_bot.services import dashboard
from relai_bot.services.dashboard import Period, Scope
from relai_bot.web.admin.spreadsheet import csv_text
from relai_bot.web.admin.templates import CHANNEL_NAMES

Cell = str | int
# Dark enough on white for graphics (at least 3:1), told apart by colour-blind readers; every chart also has
# its legend in the order of the bars, its values printed, and the same figures in the table beside it
COLOURS = ("#0b4fa3", "#a34700", "#18753c", "#6b2fa3", "#4a4a4a")


@functools.cache
def chart_style() -> Any:
    """The charts' pygal Style (pygal is imported by the first chart drawn, not with the back-office)."""
    from pygal.style import Style  # type: ignore[import-untyped]

    return Style(
        background="#ffffff",
        plot_background="#ffffff",
        foreground="#1e1e1e",
        foreground_strong="#1e1e1e",
        foreground_subtle="#4a4a4a",
        guide_stroke_color="#767676",
        major_guide_stroke_color="#767676",
        colors=COLOURS,
        value_colors=("#ffffff",) * len(COLOURS),  # printed inside the bars: white on these colours, over 4.5:1
        opacity="1",
        opacity_hover="1",
        stroke_opacity="1",
        stroke_opacity_hover="1",
        font_family="system-ui, Arial, sans-serif",
        label_font_size=13,
        major_label_font_size=13,
        legend_font_size=14,
        value_font_size=15,
        title_font_size=16,
        no_data_font_size=20,
    )


OUTCOME_NAMES = {
    "delivered": "Reçus (confirmé)",
    "sent": "Envoyés",
    "failed": "Échec",
    "skipped": "Non envoyés",
    "waiting": "En attente",
}
NO_DISTRICT_NAME = "Sans quartier"
SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>", re.DOTALL)


@dataclass(frozen=True)
class Table:
    """One figure: its name in URLs, a heading, the caption, column headings (the first heads the rows), the
    rows (first cell: the row's heading), and what the chart draws (series named, in the legend's order)."""

    name: str
    title: str
    caption: str
    columns: list[str]
    rows: list[list[Cell]]
    # "bar" (grouped: the bars of a group in the legend's order), "hbar" (the same, lying: for long names) or
    # "stacked" (from the bottom)
    chart: str
    series: Sequence[tuple[str, Sequence[float | None]]]
    labels: list[str]
    unit: str = ""

    def csv(self) -> str:
        return csv_text(self.columns, self.rows)

    def svg(self) -> str:
        """The chart: a title and description for screen readers, no script, no XML prolog."""
        import pygal  # type: ignore[import-untyped]

        kinds = {
            "bar": pygal.Bar,
            "hbar": pygal.HorizontalBar,
            "stacked": pygal.StackedBar,
        }
        chart = kinds[self.chart](
            style=chart_style(),
            js=(),
            disable_xml_declaration=True,
            width=800,
            height=self.height,
            explicit_size=False,
            legend_at_bottom=True,
            # (under lying bars the legend has only the plot's width: two a row)
            legend_at_bottom_columns=min(max(len(self.series), 1), 2 if self.chart == "hbar" else 3),
            print_values=True,
            print_zeroes=False,
            x_label_rotation=30 if len(self.labels) > 6 and self.chart != "hbar" else 0,
            truncate_label=-1,
            truncate_legend=-1,
            show_y_guides=True,
            no_data_text="Aucune donnée sur la période",
            value_formatter=(lambda v: f"{v:.0f} %") if self.unit == "%" else (lambda v: f"{v:.0f}"),
            dots_size=5,
            include_x_axis=True,
            y_labels=self._y_labels(),
        )
        chart.title = self.title
        # pygal lays the groups of lying bars from the bottom up: reversed, they read as the table does
        order = -1 if self.chart == "hbar" else 1
        chart.x_labels = self.labels[::order]
        for name, values in self.series:
            chart.add(name, list(values)[::order])
        # pygal always writes its tooltips' configuration as a script, useless here (an image runs none)
        return SCRIPT.sub("", str(chart.render(is_unicode=True)))

    @property
    def height(self) -> int:
        """Lying bars need room for each (about 20 px), the others a fixed height."""
        if self.chart != "hbar":
            return 400
        return max(300, 140 + 20 * len(self.labels) * max(len(self.series), 1))

    def _y_labels(self) -> list[int]:
        """Whole numbers on the vertical axis (percentages: 0 to 100), about eight steps."""
        if self.unit == "%":
            return list(range(0, 101, 20))
        columns = zip(*[values for _, values in self.series], strict=True)
        heights = [sum(v or 0 for v in c) if self.chart == "stacked" else max(v or 0 for v in c) for c in columns]
        top = int(max(heights, default=0))
        step = max(1, -(-top // 8))
        return list(range(0, top + step + 1, step)) if top else [0, 1]


def build(name: str, session: Session, scope: Scope, period: Period, now: datetime) -> Table:
    """One table, computing only its figure (the chart and CSV routes)."""
    return BUILDERS[name](session, scope, period, now)


def residents(session: Session, scope: Scope, period: Period, now: datetime) -> Table:
    rows = dashboard.residents_by_district(session, scope, period)
    channels = sorted({c for row in rows for c in row.by_channel})
    names = [CHANNEL_NAMES.get(c, c.capitalize()) for c in channels]
    return Table(
        "habitants",
        "Habitants par quartier et par canal",
        f"Habitants inscrits au {period.last_day:%d/%m/%Y}, par quartier et par canal (un habitant joignable "
        "par Telegram et par SMS compte dans les deux canaux, une fois dans le total)",
        ["Quartier", *names, "Total"],
        [[_district(r.district), *[r.by_channel.get(c, 0) for c in channels], r.total] for r in rows],
        "hbar",
        [(n, [float(r.by_channel.get(c, 0)) for r in rows]) for n, c in zip(names, channels, strict=True)],
        [_district(r.district) for r in rows],
    )


def new_contacts(session: Session, scope: Scope, period: Period, now: datetime) -> Table:
    weeks = dashboard.new_contacts(session, scope, period)
    return _weekly(
        "nouveaux",
        "Nouveaux contacts par semaine",
        "Habitants qui ont donné leur accord, par semaine",
        "Nouveaux habitants",
        weeks,
    )


def bookings(session: Session, scope: Scope, period: Period, now: datetime) -> Table:
    weeks = dashboard.bookings(session, scope, period)
    return _weekly(
        "rendez-vous",
        "Rendez-vous pris par semaine",
        "Rendez-vous pris chaque semaine (date de la prise de rendez-vous, même s'il a été annulé ensuite)",
        "Rendez-vous pris",
        weeks,
    )


def no_shows(session: Session, scope: Scope, period: Period, now: datetime) -> Table:
    weeks = dashboard.no_shows(session, scope, period, now)
    return Table(
        "absences",
        "Taux d'absence par semaine, avec et sans rappel reçu",
        "Rendez-vous passés de chaque semaine marqués « venu » ou « absent » : part des absents, selon qu'un "
        "rappel a été reçu ou non (« excusé » et les rendez-vous sans statut ne comptent pas)",
        [
            "Semaine",
            "Avec rappel : venus",
            "Avec rappel : absents",
            "Avec rappel : taux d'absence",
            "Sans rappel : venus",
            "Sans rappel : absents",
            "Sans rappel : taux d'absence",
            "Taux d'absence, tous",
        ],
        [
            [
                _week(w.week),
                w.seen_reminded,
                w.no_show_reminded,
                _percent(w.rate_reminded),
                w.seen_not_reminded,
                w.no_show_not_reminded,
                _percent(w.rate_not_reminded),
                _percent(w.rate),
            ]
            for w in weeks
        ],
        "bar",
        [
            ("Avec rappel reçu", [_hundred(w.rate_reminded) for w in weeks]),
            ("Sans rappel reçu", [_hundred(w.rate_not_reminded) for w in weeks]),
        ],
        [_week(w.week) for w in weeks],
        unit="%",
    )


def broadcasts(session: Session, scope: Scope, period: Period, now: datetime) -> Table:
    rows = dashboard.broadcast_delivery(session, scope, period)
    outcomes = dashboard.BROADCAST_OUTCOMES
    return Table(
        "diffusions",
        "Messages de diffusion par quartier",
        "Messages de diffusion préparés sur la période, par quartier de l'habitant et par résultat",
        ["Quartier", *[OUTCOME_NAMES[o] for o in outcomes], "Total"],
        [[_district(r.district), *[r.outcomes[o] for o in outcomes], r.total] for r in rows],
        "stacked",
        [(OUTCOME_NAMES[o], [float(r.outcomes[o]) for r in rows]) for o in outcomes],
        [_district(r.district) for r in rows],
    )


def funnel(session: Session, scope: Scope, period: Period, now: datetime) -> Table:
    rows = [r for r in dashboard.funnel(session, scope, period) if r.shown or r.opened or r.booked]
    steps = (("Vu dans une liste", "shown"), ("Fiche ouverte", "opened"), ("Rendez-vous pris", "booked"))
    return Table(
        "dispositifs",
        "Parcours par dispositif",
        "Par dispositif, nombre d'habitants (chacun compté une fois) à qui il a été proposé dans une liste, qui "
        "ont ouvert sa fiche, qui ont pris rendez-vous, et qui ont été reçus",
        ["Dispositif", *[s for s, _ in steps], "Reçus en rendez-vous"],
        [[r.name, r.shown, r.opened, r.booked, r.seen] for r in rows],
        "hbar",
        [(label, [float(getattr(r, field)) for r in rows]) for label, field in steps]
        + [("Reçus en rendez-vous", [float(r.seen) for r in rows])],
        [r.name for r in rows],
    )


BUILDERS: dict[str, Callable[[Session, Scope, Period, datetime], Table]] = {
    "habitants": residents,
    "nouveaux": new_contacts,
    "rendez-vous": bookings,
    "absences": no_shows,
    "diffusions": broadcasts,
    "dispositifs": funnel,
}


def _weekly(name: str, title: str, caption: str, column: str, weeks: list[dashboard.WeekCount]) -> Table:
    return Table(
        name,
        title,
        caption,
        ["Semaine", column],
        [[_week(w.week), w.count] for w in weeks],
        "bar",
        [(column, [float(w.count) for w in weeks])],
        [_week(w.week) for w in weeks],
    )


def _week(week: dashboard.Week) -> str:
    return f"sem. {week.number} ({week.first_day:%d/%m}-{week.last_day:%d/%m})"


def _district(name: str) -> str:
    return name or NO_DISTRICT_NAME


def _percent(rate: float | None) -> str:
    return "–" if rate is None else f"{rate * 100:.0f} %"


def _hundred(rate: float | None) -> float | None:
    return None if rate is None else round(rate * 100, 1)
