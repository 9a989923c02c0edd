"""moto server on loopback: the S3 state backend and the KMS secrets provider of the real engine.

Production runs the ``pulumi`` engine with ``s3://<bucket>/<prefix>?region=...`` and
``awskms://alias/<name>?region=...``. Tests and the demo keep exactly those URL forms and
point the AWS SDKs (the Pulumi CLI's Go SDK, boto3 in ``engines.locks``) at moto through
the standard endpoint variables ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL_KMS``, with
path-style addressing (without it the Go SDK resolves ``<bucket>.127.0.0.1``). Credentials
are dummies: moto accepts anything, and no real AWS credentials can leak into a test.
"""

from __future__ import annotations

import socket
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from payplat_dev.processes import ManagedProcess, free_port

__all__ = ["MotoServer", "start_moto"]

REGION = "us-east-1"
_START_TIMEOUT = 60.0


@dataclass
class MotoServer:
    process: ManagedProcess
    port: int
    region: str = REGION
    _clients: dict[str, Any] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """What a process needs to reach this moto as if it were AWS (and nothing else)."""
        return {
            "AWS_ENDPOINT_URL_S3": self.endpoint,
            "AWS_ENDPOINT_URL_KMS": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
            "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def backend_url(self, bucket: str, prefix: str = "") -> str:
        """The production ``s3://`` form, with path style (the only change moto needs)."""
        self.ensure_bucket(bucket)
        path = f"/{prefix.strip('/')}" if prefix.strip("/") else ""
        return f"s3://{bucket}{path}?region={self.region}&s3ForcePathStyle=true"

    def kms_secrets_provider(self, alias: str) -> str:
        """``awskms://alias/<alias>``, the key and alias made on first use."""
        self.ensure_kms_alias(alias)
        return f"awskms://alias/{alias}?region={self.region}"

    def ensure_bucket(self, bucket: str) -> None:
        s3 = self.client("s3")
        if bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
            s3.create_bucket(Bucket=bucket)

    def ensure_kms_alias(self, alias: str) -> str:
        kms = self.client("kms")
        for existing in kms.list_aliases().get("Aliases", []):
            if existing["AliasName"] == f"alias/{alias}" and existing.get("TargetKeyId"):
                return str(existing["TargetKeyId"])
        key_id = str(kms.create_key(Description=f"payplat test secrets provider {alias}")["KeyMetadata"]["KeyId"])
        kms.create_alias(AliasName=f"alias/{alias}", TargetKeyId=key_id)
        return key_id

    def client(self, service: str) -> Any:
        if service not in self._clients:
            import boto3
            from botocore.config import Config

            # Any service by name: the stubs type boto3.client per literal service name.
            self._clients[service] = boto3.client(  # type: ignore[call-overload]
                service,
                endpoint_url=self.endpoint,
                region_name=self.region,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
                config=Config(s3={"addressing_style": "path"}),
            )
        return self._clients[service]

    def objects(self, bucket: str, prefix: str = "") -> dict[str, bytes]:
        """Every object under ``prefix``, for tests that read what the backend holds."""
        s3 = self.client("s3")
        found = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                found[item["Key"]] = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        return found

    def stop(self) -> None:
        self.process.stop(timeout=5)


def start_moto(log_path: Path, *, port: int | None = None) -> MotoServer:
    """moto's server on 127.0.0.1 (a free port unless given), ready to answer."""
    port = port or free_port()
    process = ManagedProcess.start(
        "moto", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], log_path
    )
    deadline = time.monotonic() + _START_TIMEOUT
    while True:
        if not process.alive():
            raise RuntimeError(
                f"moto server exited ({process.popen.returncode}); log {log_path}:\n{process.log_text()[-2000:]}"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                pass
            urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=5).close()  # loopback
            return MotoServer(process, port)
        except OSError:
            if time.monotonic() > deadline:
                process.stop()
                raise RuntimeError(
                    f"moto server did not answer on 127.0.0.1:{port} within {_START_TIMEOUT:.0f}s; log {log_path}"
                ) from None
            time.sleep(0.2)
