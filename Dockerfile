# syntax=docker/dockerfile:1.7
#
# payment-platform-operator image: `payplat run` with the Pulumi CLI and the AWS provider
# plugin baked in (they are not on PyPI, and a pod must not download code at run time).
#
#   docker build \
#     --build-arg PULUMI_VERSION=3.274.0 --build-arg PULUMI_AWS_VERSION=7.51.1 \
#     --build-arg VERSION=0.1.0 --build-arg REVISION="$(git rev-parse HEAD)" \
#     -t registry.example.com/payplat/operator:0.1.0 .
#
# PULUMI_VERSION is the CLI the tests run (hack/pulumi-cli.sh builds the same version from
# Go modules): newer than the pulumi Python SDK pin, which accepts any newer 3.x CLI, since
# no CLI matching the SDK pin can be built here. PULUMI_AWS_VERSION is the provider plugin
# matching the pulumi-aws pin; tests/ship checks that these defaults stay in step.
#
# Without registry access (podman, a Debian-package base, the CLI built from Go modules)
# only build arguments change; hack/image.sh runs exactly that:
#   BASE_IMAGE   any image with Python 3.11 at /usr/bin/python3 or on PATH
#   PULUMI_FROM  an image holding /opt/pulumi/bin/{pulumi,pulumi-resource-aws}, instead of
#                the pulumi-release stage below (checksummed release downloads)
#   PULUMI_AWS_SOURCE  what that plugin is, recorded as the io.payplat.pulumi-aws.source
#                label: "release" (the default: the checksummed plugin), "none" (no
#                plugin: offline engine only) or "standin" (the test build only: the local
#                stand-in provider of hack/aws-standin, which answers like AWS but creates
#                nothing; never run such an image against a real account)
#
# Runs as UID/GID 10001 with a read-only root filesystem: everything written at run time
# goes to three mounted volumes (the Deployment uses emptyDirs):
#   /tmp                      Automation API workspaces
#   /home/payplat/.pulumi     PULUMI_HOME (credentials.json, workspace settings)
#   /var/lib/payplat          PAYPLAT_STATE_DIR (offline engine state, file:// backend)
# The AWS plugin lives on PATH in /opt/pulumi/bin (an "ambient" plugin), so PULUMI_HOME
# can be an empty volume and nothing is ever downloaded by a running pod.

# The one pinned base (Python 3.11, as pyproject's requires-python), shared by every stage.
# checkov:skip=CKV_DOCKER_7: the base is the BASE_IMAGE build argument, whose default above is pinned to an exact tag (tests/ship/test_dockerfile.py)
ARG BASE_IMAGE=python:3.11.14-slim-trixie
ARG PULUMI_FROM=pulumi-release
FROM ${BASE_IMAGE} AS base

# --------------------------------------------------------------------------- pulumi
FROM base AS pulumi-release
ARG PULUMI_VERSION=3.274.0
ARG PULUMI_AWS_VERSION=7.51.1
ARG TARGETARCH
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /build
# The release tarball is checked against the checksums file published with the release.
RUN case "${TARGETARCH:-amd64}" in amd64) arch=x64 ;; arm64) arch=arm64 ;; *) echo "unsupported arch ${TARGETARCH}" >&2; exit 1 ;; esac \
 && base="https://github.com/pulumi/pulumi/releases/download/v${PULUMI_VERSION}" \
 && tarball="pulumi-v${PULUMI_VERSION}-linux-${arch}.tar.gz" \
 && curl -fsSLO --proto '=https' --tlsv1.2 "${base}/${tarball}" \
 && curl -fsSL --proto '=https' --tlsv1.2 "${base}/pulumi-${PULUMI_VERSION}-checksums.txt" -o checksums.txt \
 && grep " ${tarball}\$" checksums.txt | sha256sum -c - \
 && mkdir -p /opt/pulumi/bin \
 && tar -xzf "${tarball}" --strip-components=1 -C /opt/pulumi/bin \
 && /opt/pulumi/bin/pulumi version | grep -qx "v${PULUMI_VERSION}"
# `pulumi plugin install` fetches the provider for this platform; the binary then moves
# onto PATH next to the CLI.
RUN PULUMI_HOME=/build/pulumi-home /opt/pulumi/bin/pulumi plugin install resource aws "${PULUMI_AWS_VERSION}" --exact \
 && mv "/build/pulumi-home/plugins/resource-aws-v${PULUMI_AWS_VERSION}/pulumi-resource-aws" /opt/pulumi/bin/ \
 && test -x /opt/pulumi/bin/pulumi-resource-aws

# Where /opt/pulumi comes from: the stage above, or the image named by PULUMI_FROM.
FROM ${PULUMI_FROM} AS pulumi

# --------------------------------------------------------------------------- python
FROM base AS python
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
# Dependencies are exact pins in pyproject.toml; every one ships manylinux wheels, so no
# compiler is needed (--only-binary makes a missing wheel fail the build, not compile).
RUN /opt/venv/bin/pip install --only-binary=:all: . \
 && /opt/venv/bin/payplat --help >/dev/null

# --------------------------------------------------------------------------- runtime
FROM base AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG PULUMI_VERSION=3.274.0
ARG PULUMI_AWS_VERSION=7.51.1
ARG PULUMI_AWS_SOURCE=release
LABEL org.opencontainers.image.title="payment-platform-operator" \
      org.opencontainers.image.description="Kubernetes operator keeping an AWS payment platform converged to a PaymentPlatform resource through Pulumi" \
      org.opencontainers.image.source="https://github.com/payplat/payment-platform-operator" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      io.payplat.pulumi.version="${PULUMI_VERSION}" \
      io.payplat.pulumi-aws.version="${PULUMI_AWS_VERSION}" \
      io.payplat.pulumi-aws.source="${PULUMI_AWS_SOURCE}"
RUN groupadd --system --gid 10001 payplat \
 && useradd --system --uid 10001 --gid 10001 --home-dir /home/payplat --shell /usr/sbin/nologin payplat \
 && mkdir -p /home/payplat/.pulumi /var/lib/payplat \
 && chown 10001:10001 /home/payplat /home/payplat/.pulumi /var/lib/payplat
# The venv first: builds that differ only in PULUMI_FROM share every layer but the last.
COPY --from=python /opt/venv /opt/venv
COPY --from=pulumi /opt/pulumi /opt/pulumi
ENV PATH=/opt/venv/bin:/opt/pulumi/bin:$PATH \
    HOME=/home/payplat \
    PULUMI_HOME=/home/payplat/.pulumi \
    PULUMI_SKIP_UPDATE_CHECK=true \
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true \
    PAYPLAT_STATE_DIR=/var/lib/payplat \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /home/payplat
USER 10001:10001
EXPOSE 8080 9090
# kopf's liveness endpoint (PAYPLAT_LIVENESS_ENDPOINT); Kubernetes uses its own probes.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
ENTRYPOINT ["payplat"]
CMD ["run"]
