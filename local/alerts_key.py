"""The alerts key on this machine (tender_sync.alerts.secrets): ALERTS_KEY when set, else .local/alerts.key, made
with 32 random bytes in hex the first time it is needed, readable by its owner only."""

import os
import secrets
from pathlib import Path

from local.toolchain import ROOT

KEY_FILE = ROOT / ".local" / "alerts.key"


def local_alerts_key(path: Path | None = None) -> str:
    """The key's text, as ALERTS_KEY gives it to the functions (from KEY_FILE unless `path` is given)."""
    if os.environ.get("ALERTS_KEY"):
        return os.environ["ALERTS_KEY"]
    path = path or KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(descriptor, "w") as file:
        file.write(secrets.token_hex(32) + "\n")
    return path.read_text().strip()
