"""`make schemas`: the JSON Schemas of the change events, written to docs/schemas/ from their Pydantic models
(tender_sync.changes), for consumers to read and generate bindings from. The stack registers the event's in the
EventBridge schema registry; tests/unit/test_change_schemas.py checks the files are current."""

import json
from pathlib import Path
from typing import Any

from local.toolchain import ROOT
from tender_sync.changes.events import change_schema, event_schema

SCHEMAS_DIR = ROOT / "docs" / "schemas"


def schemas() -> dict[Path, dict[str, Any]]:
    """Each schema file, with what it holds: a whole Tenders Changed event, and one line of its changes object."""
    return {SCHEMAS_DIR / "tenders-changed.json": event_schema(), SCHEMAS_DIR / "tender-change.json": change_schema()}


def text(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2) + "\n"


def main() -> None:
    SCHEMAS_DIR.mkdir(parents=True, exist_ok=True)
    for path, schema in schemas().items():
        path.write_text(text(schema))
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
