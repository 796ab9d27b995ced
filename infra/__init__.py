"""The CDK app: the stack, the workflows' state machines, the functions and their bundling, monitoring.

No runtime logic here; what infra/ shares with the functions (the workflow registry, the settings' names) it
reads from the Lambda package, tender_sync."""
import sys
from pathlib import Path

LAMBDAS = Path(__file__).resolve().parents[1] / "lambdas"
if str(LAMBDAS) not in sys.path:
    sys.path.append(str(LAMBDAS))
