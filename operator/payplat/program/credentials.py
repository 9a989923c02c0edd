"""The Secrets Manager secret holding the database credentials.

The password comes from the stack's config (``payplat:dbPassword``, a secret the engine
sets), so it never passes through the spec, status or logs; the JSON document built
around it is itself a secret Output. Services read single keys of it through ECS
``valueFrom`` and must wait for ``version``: the secret alone has no value yet.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from payplat.model.parts import DatabaseSpec
from payplat.program.context import child
from payplat.program.naming import PlatformNames
from payplat.program.stackkeys import PASSWORD_CONFIG, PROJECT

__all__ = ["DatabaseSecret", "DatabaseSecretArgs"]


@dataclass(frozen=True)
class DatabaseSecretArgs:
    spec: DatabaseSpec
    suffix: str
    key_arn: pulumi.Input[str]


class DatabaseSecret(pulumi.ComponentResource):
    secret_arn: pulumi.Output[str]
    password: pulumi.Output[str]  # a secret Output

    def __init__(self, name: str, args: DatabaseSecretArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payplat:index:DatabaseSecret", name, None, opts)
        database = args.spec
        self.password = password = pulumi.Config(PROJECT).require_secret(PASSWORD_CONFIG)
        document: pulumi.Output[str] = pulumi.Output.secret(
            pulumi.Output.json_dumps(
                {
                    "username": database.username,
                    "password": password,
                    "host": database.host,
                    "port": database.port,
                    "dbname": database.dbname,
                    "engine": database.engine,
                }
            )
        )
        self.secret = aws.secretsmanager.Secret(
            f"{name}-db-secret",
            name=PlatformNames(args.suffix).database_secret(),
            description="Database credentials of the payment platform (JSON: username, password, host, port, dbname, engine)",
            kms_key_id=args.key_arn,
            recovery_window_in_days=database.recovery_window_days,
            opts=child(self),
        )
        self.version = aws.secretsmanager.SecretVersion(
            f"{name}-db-secret-version",
            secret_id=self.secret.id,
            secret_string=document,
            opts=child(self),
        )
        self.secret_arn = self.secret.arn
        self.register_outputs({"secretArn": self.secret_arn, "versionId": self.version.version_id})
