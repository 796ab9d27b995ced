"""What several test modules share: the stack's settings as the functions get them, and how tests check inputs."""

from infra.config import StackConfig
from tender_sync.models.inputs import InputDefaults

# cdk.json's settings: the stack's configuration as `cdk synth` reads it with no -c.
DEFAULT_CONFIG = StackConfig.from_values()
# What an execution input leaves out, as the functions fill it in.
INPUT_DEFAULTS: InputDefaults = DEFAULT_CONFIG.input_defaults
