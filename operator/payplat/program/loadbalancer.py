"""The internet-facing application load balancer in the public subnets.

With a certificate it serves HTTPS with AWS's recommended TLS 1.3 policy and its HTTP
listener only redirects; without one it serves plain HTTP. Either way the serving
listener answers 404 until a public service attaches a rule (see ``service.py``), so no
traffic reaches a target group by accident.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from payplat.model.parts import LoadBalancerSpec
from payplat.program.context import child
from payplat.program.naming import PlatformNames

__all__ = ["TLS_POLICY", "LoadBalancer", "LoadBalancerArgs"]

TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
ANYWHERE = "0.0.0.0/0"
NOT_FOUND: aws.lb.ListenerDefaultActionArgsDict = {
    "type": "fixed-response",
    "fixed_response": {"content_type": "text/plain", "message_body": "not found", "status_code": "404"},
}


@dataclass(frozen=True)
class LoadBalancerArgs:
    spec: LoadBalancerSpec
    suffix: str
    vpc_id: pulumi.Input[str]
    public_subnet_ids: pulumi.Input[list[str]]


class LoadBalancer(pulumi.ComponentResource):
    security_group_id: pulumi.Output[str]
    dns_name: pulumi.Output[str]
    url: pulumi.Output[str]
    #: The listener public services attach their routing rules to (HTTPS when a certificate is set).
    listener: aws.lb.Listener

    def __init__(self, name: str, args: LoadBalancerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payplat:index:LoadBalancer", name, None, opts)
        spec, https = args.spec, args.spec.certificate_arn is not None
        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-alb-sg",
            name=PlatformNames(args.suffix).load_balancer_security_group(),
            description="payplat load balancer: HTTP(S) from the internet, to public service tasks only",
            vpc_id=args.vpc_id,
            tags={"Name": f"{args.suffix}-alb"},
            opts=child(self),
        )
        for port in (80, 443) if https else (80,):
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-alb-in-{port}",
                security_group_id=self.security_group.id,
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                cidr_ipv4=ANYWHERE,
                description=f"{'HTTPS' if port == 443 else 'HTTP'} from the internet",
                opts=child(self),
            )
        self.alb = aws.lb.LoadBalancer(
            f"{name}-alb",
            name=PlatformNames(args.suffix).load_balancer(),
            internal=False,
            load_balancer_type="application",
            security_groups=[self.security_group.id],
            subnets=args.public_subnet_ids,
            drop_invalid_header_fields=True,
            enable_deletion_protection=spec.deletion_protection,
            enable_http2=True,
            idle_timeout=60,
            access_logs=_access_logs(spec),
            opts=child(self),
        )
        if https:
            self.listener = aws.lb.Listener(
                f"{name}-https",
                load_balancer_arn=self.alb.arn,
                port=443,
                protocol="HTTPS",
                ssl_policy=TLS_POLICY,
                certificate_arn=spec.certificate_arn,
                default_actions=[NOT_FOUND],
                opts=child(self),
            )
            self.redirect = aws.lb.Listener(
                f"{name}-http-redirect",
                load_balancer_arn=self.alb.arn,
                port=80,
                protocol="HTTP",
                default_actions=[
                    {"type": "redirect", "redirect": {"port": "443", "protocol": "HTTPS", "status_code": "HTTP_301"}}
                ],
                opts=child(self),
            )
        else:
            self.listener = aws.lb.Listener(
                f"{name}-http",
                load_balancer_arn=self.alb.arn,
                port=80,
                protocol="HTTP",
                default_actions=[NOT_FOUND],
                opts=child(self),
            )
        self.security_group_id = self.security_group.id
        self.dns_name = self.alb.dns_name
        self.url = self.alb.dns_name.apply(lambda dns: f"{'https' if https else 'http'}://{dns}")
        self.register_outputs(
            {
                "dnsName": self.dns_name,
                "url": self.url,
                "securityGroupId": self.security_group_id,
                "listenerArn": self.listener.arn,
            }
        )


def _access_logs(spec: LoadBalancerSpec) -> aws.lb.LoadBalancerAccessLogsArgs | None:
    """Access logs go to the user's existing bucket (see ``AccessLogsSpec`` for why)."""
    if spec.access_logs is None:
        return None
    return aws.lb.LoadBalancerAccessLogsArgs(
        bucket=spec.access_logs.bucket, prefix=spec.access_logs.prefix, enabled=True
    )
