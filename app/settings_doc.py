"""The README's table of settings, made from `app/settings.py` so the two cannot drift apart
(tests/app/test_settings.py checks that the README holds this table).

    python -m app.settings_doc     # prints the table
"""

from __future__ import annotations

from typing import Any

from pydantic.fields import FieldInfo

from .settings import Settings


def _default(name: str, field: FieldInfo) -> str:
    if name == "data_dir":  # the machine's own folder: the rule, not this machine's answer
        return "`$XDG_DATA_HOME/heartsong`, else `~/.local/share/heartsong`"
    value: Any = field.get_default(call_default_factory=True)
    if value is None or value == "":
        return "(unset)"
    if isinstance(value, bool):
        return "`1`" if value else "`0`"
    return f"`{value}`"


def settings_table() -> str:
    """A Markdown table: environment variable, default, what it does, one row per setting."""
    rows = ["| variable | default | what |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        variable = f"HEARTSONG_{name.upper()}"
        rows.append(f"| `{variable}` | {_default(name, field)} | {field.description or ''} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(settings_table())
