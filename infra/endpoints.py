"""With `vpcEndpoints`: what the functions in the subnets reach AWS through, with no NAT. S3 through a gateway
endpoint on the subnets' route tables; Secrets Manager, Step Functions (CleanupJobs' DescribeExecution) and X-Ray
(active tracing) through interface endpoints in the subnets, which the functions' security group may reach on
HTTPS. docs/operations.md lists what each function must reach."""

from aws_cdk import Aws
from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from infra.config import StackConfig

# Interface endpoints, by the service's endpoint name.
INTERFACE_SERVICES = ("secretsmanager", "states", "xray")


class VpcEndpoints(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig) -> None:
        super().__init__(scope, construct_id)
        security_group = ec2.CfnSecurityGroup(
            self,
            "SecurityGroup",
            group_description="HTTPS from the tender sync functions to the interface endpoints",
            vpc_id=config.vpc_id,
            security_group_ingress=[
                ec2.CfnSecurityGroup.IngressProperty(
                    ip_protocol="tcp",
                    from_port=443,
                    to_port=443,
                    source_security_group_id=config.security_group_id,
                    description="The functions' security group",
                )
            ],
        )
        self.gateway = ec2.CfnVPCEndpoint(
            self,
            "S3",
            vpc_id=config.vpc_id,
            service_name=f"com.amazonaws.{Aws.REGION}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=list(config.route_table_ids),
        )
        self.interfaces = {
            service: ec2.CfnVPCEndpoint(
                self,
                service.capitalize(),
                vpc_id=config.vpc_id,
                service_name=f"com.amazonaws.{Aws.REGION}.{service}",
                vpc_endpoint_type="Interface",
                subnet_ids=list(config.subnet_ids),
                security_group_ids=[security_group.attr_group_id],
                private_dns_enabled=True,
            )
            for service in INTERFACE_SERVICES
        }
