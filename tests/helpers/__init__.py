"""What several test modules share, in one place: no test module imports another, and conftest.py files hold only
fixtures (which may use these).

- here: the stack's settings as the functions get them, how tests check inputs, and the sample data's files;
- database: the sync's settings, tender rows to store and the tenders table as stored (tests/integration);
- stack: reading the synthesized template (state machine definitions, function ids) and the cdk-nag synthesis;
- recorded_run: one whole run of every workflow on this machine, with every S3 call and Lambda invocation;
- local_stack: the local stack wired to a test database, and what a sync of the sample source should store;
- local_up: `make up` in a process of its own (tests/e2e).
"""

import json
from typing import Any, TypeVar

from infra.config import StackConfig
from local.sample_source.releases import sample_data_dir
from tender_sync.models.inputs import InputDefaults

T = TypeVar("T")

# cdk.json's settings: the stack's configuration as `cdk synth` reads it with no -c.
DEFAULT_CONFIG = StackConfig.from_values()
# What an execution input leaves out, as the functions fill it in.
INPUT_DEFAULTS: InputDefaults = DEFAULT_CONFIG.input_defaults


def load(relative_path: str) -> Any:
    """A JSON file of the sample data (data/), parsed."""
    return json.loads((sample_data_dir() / relative_path).read_text(encoding="utf-8"))


def not_none(value: T | None) -> T:
    """`value`, asserted to be there: for reading an optional field the test expects filled in."""
    assert value is not None
    return value
