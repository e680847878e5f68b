"""The retry rule, pure: which failures are tried again, after how long, and what is never resent."""

from __future__ import annotations

import itertools
import random
from dataclasses import replace

import pytest

from relai_bot.sending.contract import SendFailure
from relai_bot.sending.retry import INLINE, ONE_TRY, OUTBOX, RetryPolicy

SERVER_ERROR = SendFailure("retry", "500", code="5xx")
THROTTLED = SendFailure("retry", "flood control", retry_after=1.0, code="429")
TIMED_OUT = SendFailure("retry", "no answer in time", code="timeout", ambiguous=True)


def waits(policy: RetryPolicy, failures: list[SendFailure]) -> list[float | str]:
    """What a sender following `policy` does after each failure in turn: the wait, or why it stops."""
    done: list[float | str] = []
    tries, waited = 0, 0.0
    for failure in failures:
        decision = policy.decide(failure, tries, waited=waited, rng=random.Random(1))
        if not decision.retry:
            done.append(decision.reason)
            break
        done.append(round(decision.delay, 3))
        tries, waited = decision.tries, waited + decision.delay
    return done


def test_inline_a_server_error_is_tried_three_times_one_then_three_seconds_apart() -> None:
    assert waits(INLINE, [SERVER_ERROR] * 5) == [1.0, 3.0, "attempts"]


@pytest.mark.parametrize("policy", [INLINE, ONE_TRY])
def test_an_ambiguous_failure_is_never_resent_inline(policy: RetryPolicy) -> None:
    assert waits(policy, [TIMED_OUT]) == ["ambiguous"]
    assert waits(policy, [SERVER_ERROR, TIMED_OUT])[-1] in ("ambiguous", "attempts")


def test_the_outbox_resends_an_ambiguous_failure_later_as_an_attempt() -> None:
    decision = OUTBOX.decide(TIMED_OUT, 0, rng=random.Random(2))
    assert decision.retry and decision.counted and 15 <= decision.delay <= 30


@pytest.mark.parametrize("kind", ["unreachable", "stopped", "invalid"])
def test_final_failures_are_never_tried_again(kind: str) -> None:
    for policy in (INLINE, ONE_TRY, OUTBOX):
        decision = policy.decide(SendFailure(kind, "x"), 0)  # type: ignore[arg-type]
        assert (decision.retry, decision.reason) == (False, "final")


def test_a_429_does_not_use_up_a_try_but_its_waits_are_bounded() -> None:
    """The rule picked where the copies differed: a throttled refusal is the provider's pace, not a failure
    of the message (inline copies counted it as one of their 3 tries, the outbox did not)."""
    assert waits(INLINE, [THROTTLED] * 4 + [SERVER_ERROR] * 3) == [1.0, 1.0, 1.0, 1.0, 1.0, 3.0, "attempts"]
    # ... and a reply waits 60 s at most in all, then the failure goes back to the caller
    assert waits(INLINE, [THROTTLED] * 100)[-2:] == [1.0, "wait"]
    assert len(waits(INLINE, [THROTTLED] * 100)) == 61


def test_a_wait_longer_than_the_caller_accepts_hands_the_failure_back() -> None:
    long = SendFailure("retry", "flood control", retry_after=90.0, code="429")
    assert waits(INLINE, [long]) == ["wait"]
    assert waits(INLINE, [SendFailure("retry", "queue full", retry_after=60.0, code="21611")]) == [60.0]


def test_one_try_hands_every_failure_back() -> None:
    for failure in (SERVER_ERROR, THROTTLED, TIMED_OUT, SendFailure("retry", "now", retry_after=0.0)):
        assert not ONE_TRY.decide(failure, 0).retry


def test_outbox_backoff_grows_with_jitter_up_to_an_hour() -> None:
    rng = random.Random(5)
    delays = [OUTBOX.backoff(n, rng) for n in range(1, 12)]
    assert 15 <= delays[0] <= 30 and 30 <= delays[1] <= 60 and 60 <= delays[2] <= 120
    assert all(1800 <= d <= 3600 for d in delays[-3:])
    ceilings = [min(3600, 30 * 2 ** (n - 1)) for n in range(1, 12)]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert all(a <= b for a, b in itertools.pairwise([OUTBOX.backoff(n, random.Random(0)) for n in range(1, 12)]))


def test_outbox_waits_retry_after_and_never_less() -> None:
    rng = random.Random(3)
    for _ in range(50):
        decision = OUTBOX.decide(SendFailure("retry", "429", retry_after=7.0), 2, rng=rng)
        assert decision.retry and not decision.counted and decision.tries == 2
        assert 7.0 <= decision.delay <= 7.0 * 1.2


def test_outbox_gives_up_after_its_attempts_and_before_the_deadline() -> None:
    policy = replace(OUTBOX, attempts=3)
    assert policy.decide(SERVER_ERROR, 1).retry
    given_up = policy.decide(SERVER_ERROR, 2)
    assert (given_up.retry, given_up.reason, given_up.tries) == (False, "attempts", 3)
    # a throttled refusal is not an attempt: it may still wait
    assert policy.decide(THROTTLED, 2).retry
    # a reminder due in 10 s is not retried in 15 to 30 s
    late = policy.decide(SERVER_ERROR, 0, time_left=10.0)
    assert (late.retry, late.reason) == (False, "deadline")
