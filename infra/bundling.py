"""The one Lambda code asset: lambdas/tender_sync plus the packages lambdas/requirements.txt locks (with their
hashes), bundled without Docker."""

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import jsii
from aws_cdk import BundlingOptions, ILocalBundling
from aws_cdk import aws_lambda as lambda_

LAMBDAS_DIR = Path(__file__).resolve().parent.parent / "lambdas"
PACKAGE = "tender_sync"
PYTHON_VERSION = "3.12"
# psycopg-binary 3.3 ships manylinux_2_28 wheels only; Lambda's Python 3.12 (Amazon Linux 2023, glibc 2.34) runs them.
PIP_PLATFORMS = {
    "arm64": ["manylinux2014_aarch64", "manylinux_2_28_aarch64"],
    "x86_64": ["manylinux2014_x86_64", "manylinux_2_28_x86_64"],
}


@jsii.implements(ILocalBundling)
class LocalPipBundling:
    """Installs the Lambda runtime's wheels with this machine's pip, so no Docker is needed."""

    def __init__(self, architecture: lambda_.Architecture) -> None:
        self.pip_platforms = PIP_PLATFORMS[architecture.name]

    def try_bundle(self, output_dir: str, options: BundlingOptions) -> bool:
        if importlib.util.find_spec("pip") is None:
            return False  # CDK then bundles in Docker instead.
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "-r",
                str(LAMBDAS_DIR / "requirements.txt"),
                # The lock holds every package, transitive ones too, each with its hashes.
                "--require-hashes",
                "--no-deps",
                "-t",
                output_dir,
                *(option for platform in self.pip_platforms for option in ("--platform", platform)),
                "--implementation",
                "cp",
                "--python-version",
                PYTHON_VERSION,
                "--only-binary=:all:",
                "--upgrade",
                "--no-compile",  # this machine's Python would write .pyc files for the wrong version
                "--quiet",
            ],
            check=True,
        )
        shutil.copytree(
            LAMBDAS_DIR / PACKAGE,
            Path(output_dir) / PACKAGE,
            ignore=shutil.ignore_patterns("__pycache__"),
            dirs_exist_ok=True,
        )
        return True


def lambda_code(architecture: lambda_.Architecture) -> lambda_.Code:
    return lambda_.Code.from_asset(
        str(LAMBDAS_DIR),
        bundling=BundlingOptions(
            image=lambda_.Runtime.PYTHON_3_12.bundling_image,
            platform=architecture.docker_platform,
            # jsii calls try_bundle(output_dir, options) with the options struct, not the keyword form of its stub.
            local=LocalPipBundling(architecture),  # type: ignore[arg-type]
            # Docker fallback, used only when this Python has no pip.
            command=[
                "bash",
                "-c",
                f"pip install --require-hashes --no-deps -r requirements.txt -t /asset-output && cp -r {PACKAGE} /asset-output/"
                f" && find /asset-output/{PACKAGE} -name __pycache__ -prune -exec rm -rf {{}} +",
            ],
        ),
        exclude=["**/__pycache__"],
    )
