"""The local PostgreSQL: DATABASE_URL when set, else an embedded server (pgserver) in a folder of ours."""
import os
import warnings
from pathlib import Path

from local.toolchain import ROOT

DEFAULT_DATA_DIR = ROOT / ".local" / "pgdata"


def local_database_url(data_dir: Path = DEFAULT_DATA_DIR) -> str:
    """The URL to use, starting the embedded server (kept running until this process exits) if needed."""
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    with warnings.catch_warnings():  # pgserver's platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import pgserver

    data_dir.mkdir(parents=True, exist_ok=True)
    return pgserver.get_server(data_dir, cleanup_mode="stop").get_uri()
