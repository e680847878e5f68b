"""What the fuzz tests tried this session, printed at its end by tests/conftest.py."""

from __future__ import annotations

from typing import Any

# inputs: how many were handled; steps: the (flow, step) pairs the answers stood at
FUZZ: dict[str, Any] = {"inputs": 0, "steps": set()}
