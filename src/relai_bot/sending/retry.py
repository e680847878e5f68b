"""May a failed send be tried again, when, and is it safe to resend: one rule for every send.

`RetryPolicy.decide(failure, tries)` answers for one message after one failed try; the instances differ
only in their numbers:

- `INLINE`: a conversation reply on either channel, retried in place while the resident waits
  (3 tries, 1 s then 3 s apart, at most 60 s of waiting in all).
- `ONE_TRY`: a channel's send on behalf of the outbox: every failure is handed back at once, since the
  outbox retries it itself (retries of retries would multiply: 3 tries x 8 attempts for a dead server).
- `OUTBOX`: the outbox's rows (30 s, 1 min, 2 min … up to 1 h apart with jitter, `outbox_max_attempts`
  tries, never after the row's expiry).
- `REPLY_OUTBOX`: a conversation turn's replies that could not go inline (services.reply_journal): the
  outbox's numbers, but an ambiguous failure is final as it is inline: the resident is in the
  conversation and would read the same answer twice.

The rule:

1. Only a failure of kind "retry" is tried again (unreachable, stopped and invalid are final).
2. An ambiguous failure (the provider may have taken the message: `SendFailure.ambiguous`) is resent only
   where the policy says so (`resend_ambiguous`): never inline, where a resident would read it twice
   within seconds; the outbox does resend it later, since a reminder that never arrives costs more than one
   that arrives twice (and the Telegram channel remembers the sends it finished meanwhile).
3. A throttled refusal (the provider said `retry_after`: a 429) does not use up a try, for the provider did
   not read it; the next try waits `retry_after`, never less, plus up to `throttle_jitter` of it.
4. Any other failure uses up a try; after `attempts` tries the message is given up. The n-th retry waits
   `first_delay * factor ** (n - 1)`, at most `max_delay`, drawn in the lower `jitter` part of that.
5. A wait that would take the message's total waiting past `max_wait` (0: never wait), or reach its
   deadline (`time_left`), gives up instead: the failure goes back to the caller with its `retry_after`.

Two rules were written differently by the copies this module replaces, and one was picked:
- A 429 used up one of the 3 inline tries (Telegram and SMS replies) but not an outbox attempt. Rule 3
  now holds everywhere: a 429 is the provider's pace, not a failure of the message; `max_wait` bounds
  how long a reply waits for it in all.
- The longest wait for a conversation reply was 60 s on Telegram and 5 s by SMS; `INLINE` keeps 60 s
  for both: a reply is worth the wait (the resident asked for it; by SMS the webhook has already been
  answered), and a reply given up is lost. And the Telegram channel retried its outbox sends in place
  before the outbox retried them again, while the SMS channel made one try: `ONE_TRY` for both.
The jitter added to an outbox retry_after was 0-20 % in one copy and 0-10 % in another; 20 % (the one
in use) is kept.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from typing import Literal

from relai_bot.sending.contract import SendFailure

Reason = Literal["retry", "final", "ambiguous", "attempts", "wait", "deadline"]


@dataclass(frozen=True)
class Decision:
    """retry: try again after `delay` seconds. counted: this failure used up a try; tries: the tries used
    so far. reason: why not, when not ("final", "ambiguous", "attempts", "wait", "deadline")."""

    retry: bool
    delay: float
    counted: bool
    tries: int
    reason: Reason


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int
    first_delay: float = 1.0
    factor: float = 2.0
    max_delay: float = math.inf
    jitter: float = 0.0
    throttle_jitter: float = 0.0
    max_wait: float = math.inf
    resend_ambiguous: bool = False

    def __post_init__(self) -> None:
        if self.attempts < 1 or not 0 <= self.jitter <= 1 or self.throttle_jitter < 0:
            raise ValueError("attempts >= 1, 0 <= jitter <= 1 and throttle_jitter >= 0 are needed")

    def backoff(self, tries: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after `tries` failed tries (1: before the second try)."""
        ceiling = min(self.max_delay, self.first_delay * self.factor ** max(0, tries - 1))
        return ceiling * (1 - self.jitter * (rng or random).random())

    def throttled(self, retry_after: float, rng: random.Random | None = None) -> float:
        """Seconds to wait after a throttled refusal: never less than the provider asked."""
        return max(0.0, retry_after) * (1 + self.throttle_jitter * (rng or random).random())

    def decide(
        self,
        failure: SendFailure,
        tries: int,
        *,
        waited: float = 0.0,
        time_left: float | None = None,
        rng: random.Random | None = None,
    ) -> Decision:
        """After `failure`, with `tries` tries used up before it and `waited` seconds already waited for
        this message: try again, and when? `time_left`: seconds until the message's deadline."""
        retry_after = failure.retry_after if failure.kind == "retry" else None
        counted = retry_after is None
        used = tries + counted

        def no(reason: Reason) -> Decision:
            return Decision(False, 0.0, counted, used, reason)

        if failure.kind != "retry":
            return no("final")
        if failure.ambiguous and not self.resend_ambiguous:
            return no("ambiguous")
        if used >= self.attempts:
            return no("attempts")
        delay = self.throttled(retry_after, rng) if retry_after is not None else self.backoff(used, rng)
        if self.max_wait <= 0 or waited + delay > self.max_wait:
            return no("wait")
        if time_left is not None and delay >= time_left:
            return no("deadline")
        return Decision(True, delay, counted, used, "retry")


INLINE = RetryPolicy(attempts=3, first_delay=1.0, factor=3.0, max_delay=3.0, max_wait=60.0)
ONE_TRY = RetryPolicy(attempts=1, max_wait=0.0)
OUTBOX = RetryPolicy(
    attempts=8,
    first_delay=30.0,
    factor=2.0,
    max_delay=3600.0,
    jitter=0.5,
    throttle_jitter=0.2,
    resend_ambiguous=True,
)
REPLY_OUTBOX = replace(OUTBOX, resend_ambiguous=False)
