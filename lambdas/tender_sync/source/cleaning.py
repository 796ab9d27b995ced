"""Values JSON carries but PostgreSQL refuses as they are, made storable before a release goes anywhere.

PostgreSQL text and jsonb cannot hold U+0000, psycopg cannot encode a lone UTF-16 surrogate (JSON's `\\ud800`
escape decodes to one), and jsonb has no NaN or Infinity (Python's JSON reader accepts `NaN`, `Infinity`
and `1e999999`). Each is cleaned at any depth, keys included: NUL removed, a lone surrogate replaced with
U+FFFD, a non-finite number replaced with null. What the cleaning changed is reported, so it can be counted.
"""

import math
import re
from typing import Any

LONE_SURROGATE = re.compile("[\ud800-\udfff]")
NUL = "\x00"


def storable(value: Any) -> tuple[Any, set[str]]:
    """The value with what PostgreSQL refuses cleaned, and the kinds of cleaning done ("NUL", ...)."""
    cleaned: set[str] = set()
    return _clean(value, cleaned), cleaned


def _clean(value: Any, cleaned: set[str]) -> Any:
    if isinstance(value, str):
        return _clean_text(value, cleaned)
    if isinstance(value, dict):
        return {
            _clean_text(key, cleaned) if isinstance(key, str) else key: _clean(item, cleaned)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_clean(item, cleaned) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        cleaned.add("non-finite number")
        return None
    return value


def _clean_text(text: str, cleaned: set[str]) -> str:
    if NUL in text:
        cleaned.add("NUL")
        text = text.replace(NUL, "")
    if LONE_SURROGATE.search(text):
        # A valid pair was already joined into one character by the JSON reader: what is left is invalid.
        cleaned.add("invalid Unicode")
        text = LONE_SURROGATE.sub("\ufffd", text)
    return text
