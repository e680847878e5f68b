"""Every action the audit log can hold has a French name on the Journal page."""

from __future__ import annotations

from relai_bot.services import audit
from relai_bot.web.admin.pages.audit import ACTION_NAMES


def test_every_audit_action_has_a_french_name() -> None:
    actions = {
        value
        for name, value in vars(audit).items()
        if name.isupper() and isinstance(value, str) and ("." in value or name in ("LOGIN", "LOGOUT"))
    }
    assert actions - set(ACTION_NAMES) == set()
    assert len(actions) == len(ACTION_NAMES) == 38
