"""The service's counters, in the Prometheus model (prometheus-client), served at /metrics (relai_bot.web.metrics).

One registry for the process, apart from prometheus-client's default one (which other libraries may fill):
the process's own figures (CPU, memory, open files, the garbage collector) and the counters below, which
the code that knows each event increments once it happened (after its commit, where there is one). What is
read from the database at each scrape (the outbox's rows, its oldest due row, broadcasts in flight) is
added by the web layer, which holds the database.

Labels take a few known values only (channel and flow names, outcome words, provider codes): never an
address, an id or a text, so the number of series stays small and nothing personal leaves the service.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

# A counter's creation time is one more series per label set, which nobody here reads
disable_created_metrics()  # type: ignore[no-untyped-call]
REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

# A turn takes a few milliseconds; a busy database, hundreds
TURN_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0)

TURNS = Counter(
    "relai_turns",
    "Messages from residents handled (one turn each), by channel and the flow the turn ended in.",
    ["channel", "flow"],
    registry=REGISTRY,
)
TURN_FAILURES = Counter(
    "relai_turn_failures",
    "Turns answered with the apology instead (reason: busy = the database stayed busy, error = a fault).",
    ["channel", "reason"],
    registry=REGISTRY,
)
TURN_SECONDS = Histogram(
    "relai_turn_seconds",
    "Time to run a turn and commit it (the database's wait included), by channel.",
    ["channel"],
    buckets=TURN_BUCKETS,
    registry=REGISTRY,
)
REPLIES = Counter(
    "relai_replies",
    "Replies the turns produced (each is sent by its channel: see relai_provider_answers).",
    ["channel"],
    registry=REGISTRY,
)
PROVIDER_ANSWERS = Counter(
    "relai_provider_answers",
    "Answers of Telegram and Twilio to each send request: outcome accepted, retry (429, 5xx, timeout), "
    "unreachable, stopped or invalid; code as the provider gave it (HTTP status or Twilio error code).",
    ["channel", "outcome", "code"],
    registry=REGISTRY,
)
OUTBOX_SENDS = Counter(
    "relai_outbox_sends",
    "Outbox rows tried by the delivery worker, by kind (reminder, broadcast...) and result (sent or the "
    "failure's kind), counted once the result is written.",
    ["kind", "result"],
    registry=REGISTRY,
)
OUTBOX_SKIPPED = Counter(
    "relai_outbox_skipped",
    "Outbox rows not sent on purpose (an appointment cancelled, quiet hours past the deadline, a "
    "stopped resident...), by kind and reason.",
    ["kind", "reason"],
    registry=REGISTRY,
)
DATABASE_ERRORS = Counter(
    "relai_database_errors",
    "Errors the database driver raised (locked or busy, connection lost, constraint...), by error class.",
    ["error"],
    registry=REGISTRY,
)


def provider_answer(channel: str, outcome: str, code: str | None) -> None:
    """One answer of a provider to a send request (see PROVIDER_ANSWERS)."""
    PROVIDER_ANSWERS.labels(channel, outcome, (code or "none")[:16]).inc()
