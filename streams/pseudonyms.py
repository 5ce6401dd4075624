"""Pseudonymous customer ids: a keyed hash (HMAC-SHA-256) in everything the processor emits.

The same key gives the same pseudonym, so scores and alerts still join up; without the key a
pseudonym cannot be turned back into an id. An id that already is a pseudonym is left alone, so
a replayed dead letter is not hashed twice.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Final

__all__ = ["Pseudonymizer"]

_PSEUDONYM: Final = re.compile(r"^px-[0-9a-f]{32}$")


class Pseudonymizer:
    def __init__(self, key: bytes | None) -> None:
        self._key = key

    @property
    def enabled(self) -> bool:
        return self._key is not None

    def __call__(self, customer_id: str) -> str:
        if self._key is None or _PSEUDONYM.match(customer_id):
            return customer_id
        digest = hmac.new(self._key, customer_id.encode("utf-8"), hashlib.sha256).hexdigest()
        return "px-" + digest[:32]
