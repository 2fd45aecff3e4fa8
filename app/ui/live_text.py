"""Show the LLM's fields while it is still writing: read string fields out of an unfinished JSON answer."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

# `"name": "value so far` — the value may stop anywhere, even inside an escape.
_FIELD = r'"{name}"\s*:\s*"((?:[^"\\]|\\.)*(?:\\)?)'
_HALF_UNICODE_ESCAPE = re.compile(r"\\u[0-9a-fA-F]{0,3}$")


def partial_fields(text: str, names: Iterable[str]) -> dict[str, str]:
    """The string value of each field in `names` found so far in `text` (a JSON object still arriving).

    A value cut in the middle of an escape (`\\`, `\\u00`) is shown up to the escape; fields not yet begun, or
    not strings, are left out.
    """
    found: dict[str, str] = {}
    for name in names:
        match = re.search(_FIELD.format(name=re.escape(name)), text)
        if match is None:
            continue
        raw = match.group(1)
        trailing_backslashes = len(raw) - len(raw.rstrip("\\"))
        if trailing_backslashes % 2 == 1:
            raw = raw[:-1]  # an escape cut in half: wait for its second character
        raw = _HALF_UNICODE_ESCAPE.sub("", raw)
        try:
            found[name] = json.loads(f'"{raw}"')
        except json.JSONDecodeError:
            continue
    return found
