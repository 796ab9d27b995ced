"""A synthesized template's values made local: Ref, Fn::GetAtt and Fn::Join resolved against the local
resources (the functions, state machines and queues by logical id, the one local bucket, the event buses by name,
placeholder ARNs for the rest)."""

from typing import Any

REGION = "us-east-1"
ACCOUNT = "123456789012"
LOCAL_BUCKET = "tender-sync-local-artifacts"
PSEUDO_PARAMETERS = {
    "AWS::Partition": "aws",
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::URLSuffix": "amazonaws.com",
}


def ref(template: dict[str, Any], logical_id: str) -> str:
    if logical_id in PSEUDO_PARAMETERS:
        return PSEUDO_PARAMETERS[logical_id]
    kind = template["Resources"][logical_id]["Type"]
    if kind == "AWS::S3::Bucket":
        return LOCAL_BUCKET
    if kind == "AWS::Lambda::Function":
        return logical_id
    if kind == "AWS::Events::EventBus":
        return template["Resources"][logical_id]["Properties"]["Name"]
    if kind == "AWS::StepFunctions::StateMachine":
        # The local stack names each state machine by its logical id.
        return f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{logical_id}"
    if kind == "AWS::SQS::Queue":
        return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{logical_id}"
    return f"arn:aws:local:{REGION}:{ACCOUNT}:{logical_id}"


def get_att(template: dict[str, Any], logical_id: str, attribute: str) -> str:
    kind = template["Resources"][logical_id]["Type"]
    if kind == "AWS::Lambda::Function" and attribute == "Arn":
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{logical_id}"
    if kind == "AWS::Lambda::Url" and attribute == "FunctionUrl":
        return f"https://{logical_id.lower()}.lambda-url.{REGION}.on.aws/"
    if kind == "AWS::S3::Bucket" and attribute == "Arn":
        return f"arn:aws:s3:::{LOCAL_BUCKET}"
    if kind == "AWS::SQS::Queue" and attribute in ("Arn", "QueueName"):
        return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{logical_id}" if attribute == "Arn" else logical_id
    if kind == "AWS::EventSchemas::Schema" and attribute == "SchemaName":
        return template["Resources"][logical_id]["Properties"]["SchemaName"]
    if kind == "AWS::Events::EventBus" and attribute in ("Arn", "Name"):
        name = ref(template, logical_id)
        return f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{name}" if attribute == "Arn" else name
    raise ValueError(f"the local runner cannot resolve Fn::GetAtt {logical_id}.{attribute} ({kind})")


def resolve(template: dict[str, Any], value: Any) -> Any:
    """A template value with Ref, Fn::GetAtt and Fn::Join replaced by the local resources."""
    if isinstance(value, list):
        return [resolve(template, v) for v in value]
    if not isinstance(value, dict):
        return value
    if "Ref" in value:
        return ref(template, value["Ref"])
    if "Fn::GetAtt" in value:
        return get_att(template, *value["Fn::GetAtt"])
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(str(resolve(template, p)) for p in parts)
    return {k: resolve(template, v) for k, v in value.items()}


def definition(template: dict[str, Any], logical_id: str) -> str:
    """A state machine's definition as deployed (JSON), each function ARN naming the function's logical id."""
    return resolve(template, template["Resources"][logical_id]["Properties"]["DefinitionString"])
