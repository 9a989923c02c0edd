"""The limits of a PaymentPlatform's fields: patterns, sizes and allowed values, shared by the
spec's validation, the CRD's schema and CEL rules, the guardrails and the plan, so every
layer refuses the same input with the same bound.
"""

from __future__ import annotations

import ipaddress
import re

#: A DNS label without ``--``: AWS names join a suffix and a service name with ``--``
#: (``payplat-<suffix>--<service>-task``), so neither part may contain it.
AWS_LABEL = re.compile(r"^[a-z](-?[a-z0-9])*$", re.ASCII)

# Every pattern is also the CRD's (RE2, the API server's engine): re.ASCII keeps \d and \w
# to ASCII as in RE2, and fullmatch keeps `$` from accepting a trailing newline, which
# Python's `$` does and RE2's does not.


ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$", re.ASCII)


REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$", re.ASCII)


ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$", re.ASCII)


#: An S3 key prefix: path segments of URL-safe characters, no leading or trailing slash.
LOG_PREFIX = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$", re.ASCII)


MAX_LOG_PREFIX = 200


CERT_ARN = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}$", re.ASCII)


CIDR_FORM = re.compile(r"^[0-9.]+/[0-9]{1,2}$", re.ASCII)


#: A PaymentPlatform's metadata.name (and namespace): a DNS label, since stack and AWS names
#: are built from it. The CRD enforces it too, so kubectl and `payplat plan` agree.
RESOURCE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", re.ASCII)


MAX_RESOURCE_NAME = 63


URL_PATH = re.compile(r"^/[\x21-\x7e]*$", re.ASCII)  # RE2 (the API server's regex engine) caps repeats at 1000


USER_ID = re.compile(r"^\d+(:\d+)?$", re.ASCII)


ROOT_USER = re.compile(r"^0+(:|$)", re.ASCII)


CREDENTIAL_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE_KEY|API_KEY", re.IGNORECASE)


IMAGE_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"


IMAGE_DIGEST = r"sha256:[a-f0-9]{64}"


_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"


# [registry[:port]/]path[:tag][@sha256:digest]; a tag or a digest is required (checked
# below). A port only counts when a path follows it, so `redis:7` is repository + tag.
IMAGE = re.compile(
    rf"^(?P<repo>(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*(?::\d+)?/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    rf"(?::(?P<tag>{IMAGE_TAG}))?"
    rf"(?:@(?P<digest>{IMAGE_DIGEST}))?$",
    re.ASCII,
)


#: Valid Fargate memory (MiB) for each cpu size (CPU units).
FARGATE_MEMORY: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
}


#: The only values CloudWatch Logs accepts for a log group's retention.
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)


#: JSON keys of the platform's database secret; a service secret picks one of them.
SECRET_KEYS = ("username", "password", "host", "port", "dbname", "engine")


#: Longest environmentSuffix: AWS names such as the ALB's (32 chars) are built from it.
MAX_SUFFIX = 20


#: Longest service name: AWS names (target groups, 32 chars) are built from it and the suffix.
MAX_SERVICE_NAME = 24


#: Service names the platform's own resources use: a service called ``alb`` or ``peers``
#: would give its security group the logical name of the load balancer's or the peers'
#: group, ``flow`` its log group that of the VPC flow logs, and ``vpc-flow-logs`` its log
#: group ``/payplat/<suffix>/vpc-flow-logs``, the flow logs' own. Kept complete by
#: tests/program/test_ownership.py, which derives the list from the program.
RESERVED_SERVICE_NAMES = ("alb", "flow", "peers", "vpc-flow-logs")


#: The ALB's limit for a health check path.
MAX_URL_PATH = 1024


#: Docker's limits: a 255-character name, a 128-character tag and a sha256 digest.
MAX_IMAGE = 255 + 1 + 128 + 1 + 71


#: "UID:GID" with two 32-bit ids.
MAX_USER = 21


#: AWS allows 50 tags per resource; the operator adds its own few.
MAX_TAGS = 40


#: Bounds on per-service lists and maps: far above real use, and they keep the API
#: server's CEL cost estimates for the CRD's rules within its budget.
MAX_ENVIRONMENT = 100


MAX_SECRETS = 20


MAX_TAG_KEY = 128


MAX_TAG_VALUE = 256


#: The VPC's prefix length range, and the RFC 1918 ranges it must sit in.
VPC_PREFIXES = (16, 24)


PRIVATE_RANGES = tuple(ipaddress.IPv4Network(net) for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


#: An S3 bucket name (general purpose buckets: 3-63 lowercase letters, digits, dots, hyphens).
S3_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


MAX_K8S_NAME = 253
