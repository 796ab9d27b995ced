"""The stack's resources as `make up` makes them: the state machines (the LocalStack's), a database secret holding
the local database's URL, the alerts topic, and a CloudFormation stack named as the deployed one (`stack_name`) whose outputs are
the template's, each naming its local resource; those naming what has no local counterpart (the dashboard, the
event schema, a function URL) are left out. With them, `describe-stacks` answers as on AWS, and
`make cli ARGS="--stack TenderSync runs"` finds the database through the secret as it does there."""

import json
import warnings
from typing import Any

import boto3

from local.alerts_key import local_alerts_key
from local.engine.stack import LocalStack
from local.engine.template import REGION, resolve

# CloudFormation wants a resource in a stack: this one does nothing (moto does not model it, and says so).
NO_OP_RESOURCE = {"Local": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}
# The resource types that exist here: the state machines, the secrets and topics made here, the bucket and buses
# (local.engine.stack), the queues (local.up.queues).
LOCAL_TYPES = {
    "AWS::StepFunctions::StateMachine",
    "AWS::SecretsManager::Secret",
    "AWS::SNS::Topic",
    "AWS::S3::Bucket",
    "AWS::Events::EventBus",
    "AWS::SQS::Queue",
}


class LocalResources:
    """The local value of each resource `make up` makes, by logical id; the rest as local template resolution
    gives them."""

    def __init__(self, local: LocalStack, stack_name: str, database_url: str) -> None:
        self.template = local.template
        self.made: dict[str, str] = dict(local.state_machines)
        self.sns = boto3.client("sns", region_name=REGION)
        secrets = boto3.client("secretsmanager", region_name=REGION)
        # The alerts key's secret holds the key the functions here use; every other secret, the database's URL.
        alerts_key = self.template["Outputs"].get("AlertsKeySecretArn", {}).get("Value", {}).get("Ref")
        for logical_id, resource in self.template["Resources"].items():
            if resource["Type"] == "AWS::SecretsManager::Secret":
                value = local_alerts_key() if logical_id == alerts_key else database_url
                self.made[logical_id] = secrets.create_secret(Name=logical_id, SecretString=value)["ARN"]
            elif resource["Type"] == "AWS::SNS::Topic":
                self.made[logical_id] = self.sns.create_topic(Name=logical_id)["TopicArn"]
        self.outputs = {
            key: self.value(output["Value"])
            for key, output in self.template["Outputs"].items()
            if self.exists(output["Value"])
        }
        # The outputs left out: what they name does not exist here.
        self.not_here = [key for key in self.template["Outputs"] if key not in self.outputs]
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*WaitConditionHandle.*")
            boto3.client("cloudformation", region_name=REGION).create_stack(
                StackName=stack_name,
                TemplateBody=json.dumps(
                    {
                        "Resources": NO_OP_RESOURCE,
                        "Outputs": {key: {"Value": value} for key, value in self.outputs.items()},
                    }
                ),
            )

    def exists(self, template_value: Any) -> bool:
        """Whether every resource a template value refers to (Ref, Fn::GetAtt) exists here."""
        if isinstance(template_value, list):
            return all(self.exists(item) for item in template_value)
        if not isinstance(template_value, dict):
            return True
        referred = template_value.get("Ref") or (template_value.get("Fn::GetAtt") or [None])[0]
        resource = self.template["Resources"].get(referred) if isinstance(referred, str) else None
        if referred and resource is not None and resource["Type"] not in LOCAL_TYPES:
            return False
        return all(self.exists(item) for item in template_value.values())

    def value(self, template_value: Any) -> Any:
        """A template value with each Ref to a resource made here replaced by its local value."""
        if isinstance(template_value, list):
            return [self.value(item) for item in template_value]
        if not isinstance(template_value, dict):
            return template_value
        if template_value.get("Ref") in self.made:
            return self.made[template_value["Ref"]]
        if any(key == "Ref" or key.startswith("Fn::") for key in template_value):
            return resolve(self.template, template_value)
        return {key: self.value(item) for key, item in template_value.items()}
