"""Every test starts from the default settings: no CX_* variable of the caller leaks in."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _no_cx_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("CX_")]:
        monkeypatch.delenv(name)
