"""Who this process is, for the leases it takes on outbox rows: "<host>:<pid>:<random>".

A row claimed by a process that died stays "sending" until its lease runs out. When the claimer was on
this host, a process can tell sooner that it is gone: its pid no longer runs, or it is this very pid
with another random part (a container restarts its program with the same pid). `is_gone` says so, so
that a restarted service takes such rows back at once instead of waiting out their lease. Anything
else (another host, a pid that runs) counts as alive: only its lease tells.
"""

from __future__ import annotations

import os
import socket
import uuid

HOST = socket.gethostname()[:30]
_ISSUED: set[str] = set()


def new_id() -> str:
    """A claimer id for this process (the outbox worker, the turns' replies); remembered as ours."""
    claimer = f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    _ISSUED.add(claimer)
    return claimer


# The id under which this process's turns hold their replies while they send them
REPLIES = new_id()


def is_gone(claimer: str | None) -> bool:
    """True when `claimer` was a process of this host that no longer runs (see the module's docstring)."""
    if not claimer or claimer in _ISSUED:
        return False
    host, _, rest = claimer.partition(":")
    pid_text, _, _ = rest.partition(":")
    if host != HOST or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return True  # this pid, but not an id this process issued: an earlier life of the same program
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # it runs, as another user
        return False
    return False
