"""The CDK app: the stack, the workflows' state machines, the functions and their bundling, monitoring.

No runtime logic here; what infra/ shares with the functions (the workflow registry, the settings' names, the
error names) it reads from the Lambda package, tender_sync."""

from infra.node import use_supported_node

use_supported_node()
