"""Where the project is: the local tools' paths."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
