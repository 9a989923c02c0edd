#!/usr/bin/env bash
# Build the operator image on a machine without registry access, from the project's own
# Dockerfile, with podman (development tooling: the node lane and `hack/demo.sh --node`).
#
# The only differences from the README's `docker build` are build arguments:
#   BASE_IMAGE   a Python 3.11 base made here from Debian packages (mmdebstrap), not
#                python:3.11.x-slim from a registry
#   PULUMI_FROM  an image holding /opt/pulumi/bin made here (the Pulumi CLI built from Go
#                modules by hack/pulumi-cli.sh and the local AWS stand-in plugin), not the
#                Dockerfile's `pulumi-release` stage (checksummed release downloads)
#
# Usage: hack/image.sh           builds what is missing, prints the images folder last
#        hack/image.sh base|pause  one step only
#        hack/image.sh --print   prints the images folder only (no build)
#
# Outputs, in ${PAYPLAT_TESTBIN_CACHE:-~/.cache/payplat/testbin}/images (keyed by content):
#   operator.oci.tar + operator.ref   the operator image (tag = hash of its inputs)
#   pause.oci.tar    + pause.ref      the pod sandbox image, from the kubelet's pause.c
# both OCI archives for `ctr -n k8s.io images import` (a node with no registry).
#
# Measured cold on 2 busy cores: base rootfs 75 s, operator image 3.5-5.5 min (pip layer).
set -euo pipefail
cd "$(dirname "$0")/.."

KUBE_VERSION=${KUBE_VERSION:-v1.37.2}
PAUSE_REF=${PAUSE_REF:-registry.k8s.io/pause:3.10.2}
DEBIAN_SUITE=${DEBIAN_SUITE:-bookworm}   # bookworm's python3 is 3.11, as requires-python
BASE_REF=localhost/payplat/python-base:$DEBIAN_SUITE
OPERATOR_REPO=localhost/payplat/operator

CACHE=${PAYPLAT_TESTBIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/payplat/testbin}
IMAGES="$CACHE/images"
if [[ "${1:-}" == "--print" ]]; then echo "$IMAGES"; exit 0; fi
mkdir -p "$IMAGES"

log() { printf '[image] %s\n' "$*" >&2; }
die() { printf '[image] FAILED: %s\n' "$*" >&2; exit 1; }

for tool in podman mmdebstrap gcc; do
  command -v "$tool" >/dev/null || die "$tool is missing (apt-get install podman mmdebstrap gcc libc6-dev)"
done

# podman here: cgroupfs (no systemd), runc (crun fails on hybrid cgroups) and rlimits no
# higher than this VM's hard limits (no CAP_SYS_RESOURCE). Our own file, not /etc.
export CONTAINERS_CONF="$IMAGES/containers.conf"
cat >"$CONTAINERS_CONF" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
events_logger = "file"
CONF

has_image() { podman image exists "$1"; }

# ------------------------------------------------------------------ base (Debian packages)
build_base() {
  if has_image "$BASE_REF"; then log "base $BASE_REF cached"; return; fi
  local tar="$IMAGES/base-$DEBIAN_SUITE.tar"
  if [[ ! -s "$tar" ]]; then
    # The mirror apt already uses on this machine (never a hard-coded host).
    local mirror
    mirror=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
    [[ -n "$mirror" ]] || mirror=$(awk '$1=="deb"{print $2; exit}' /etc/apt/sources.list 2>/dev/null)
    [[ -n "$mirror" ]] || die "no Debian mirror in apt's sources"
    log "base rootfs: mmdebstrap $DEBIAN_SUITE minbase + python3 (cold: ~2 min)"
    mmdebstrap --quiet --variant=minbase --include=python3,python3-venv,ca-certificates \
      "$DEBIAN_SUITE" "$tar.partial.tar" "deb $mirror $DEBIAN_SUITE main" >&2
    mv "$tar.partial.tar" "$tar"
  fi
  podman import --quiet "$tar" "$BASE_REF" >/dev/null
  log "base ready: $BASE_REF"
}

# ------------------------------------------------------------------ pause (sandbox image)
build_pause() {
  if has_image "$PAUSE_REF" && [[ -s "$IMAGES/pause.oci.tar" ]]; then log "pause cached"; return; fi
  local src
  src="$(go env GOMODCACHE)/k8s.io/kubernetes@$KUBE_VERSION/build/pause/linux/pause.c"
  if [[ ! -f "$src" ]]; then
    (cd "$(mktemp -d)" && go mod download "k8s.io/kubernetes@$KUBE_VERSION" >&2)
  fi
  [[ -f "$src" ]] || die "pause.c not found in k8s.io/kubernetes@$KUBE_VERSION"
  local ctx; ctx=$(mktemp -d)
  gcc -Os -Wall -Werror -static -DVERSION="$KUBE_VERSION" -o "$ctx/pause" "$src"
  printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' >"$ctx/Containerfile"
  podman build --quiet --network=none -t "$PAUSE_REF" -f "$ctx/Containerfile" "$ctx" >/dev/null
  rm -rf "$ctx"
  podman save --quiet --format oci-archive -o "$IMAGES/pause.oci.tar.tmp" "$PAUSE_REF"
  mv "$IMAGES/pause.oci.tar.tmp" "$IMAGES/pause.oci.tar"
  echo "$PAUSE_REF" >"$IMAGES/pause.ref"
  log "pause ready: $PAUSE_REF"
}

# ------------------------------------------------------------------ pulumi tools
# /opt/pulumi/bin as the Dockerfile's pulumi-release stage would make it: the CLI (from Go
# modules) and pulumi-resource-aws (the local stand-in until a release can be fetched).
pulumi_tools() {
  local cli="" plugin=""
  if [[ -f hack/pulumi-cli.sh ]]; then cli=$(bash hack/pulumi-cli.sh | tail -n1); fi
  cli=${PAYPLAT_PULUMI_CLI:-$cli}
  # The provider: a directory or binary given here. The repo's Python stand-in
  # (hack/aws-standin) needs its dev package in the image, so it is not baked in.
  plugin=${PAYPLAT_PULUMI_AWS_PLUGIN:-}
  local ctx; ctx=$(mktemp -d)
  mkdir -p "$ctx/opt/pulumi/bin"
  if [[ -n "$cli" && -x "$cli" ]]; then
    cp "$cli" "$ctx/opt/pulumi/bin/pulumi"
  else
    log "WARNING: no Pulumi CLI (hack/pulumi-cli.sh): this image runs the offline engine only"
  fi
  if [[ -n "$plugin" && -e "$plugin" ]]; then
    cp -r "$plugin" "$ctx/opt/pulumi/bin/pulumi-resource-aws"
  else
    log "WARNING: no pulumi-resource-aws stand-in: this image runs the offline engine only"
  fi
  local key; key=$(cd "$ctx" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum | sha256sum | cut -c1-16)
  PULUMI_TOOLS_REF=localhost/payplat/pulumi-tools:$key
  if ! has_image "$PULUMI_TOOLS_REF"; then
    printf 'FROM scratch\nCOPY opt /opt\n' >"$ctx/Containerfile"
    podman build --quiet --network=none -t "$PULUMI_TOOLS_REF" -f "$ctx/Containerfile" "$ctx" >/dev/null
  fi
  rm -rf "$ctx"
  log "pulumi tools: $PULUMI_TOOLS_REF"
}

# ------------------------------------------------------------------ the operator
build_operator() {
  # Tag = hash of every input, so an unchanged checkout reuses the image and archive.
  local key
  key=$( { cat Dockerfile .dockerignore pyproject.toml README.md hack/image.sh; echo "$BASE_REF $PULUMI_TOOLS_REF";
           find operator -type f -not -path '*/__pycache__/*' -print0 | sort -z | xargs -0 cat; } \
         | sha256sum | cut -c1-16)
  local ref="$OPERATOR_REPO:$key"
  if has_image "$ref" && [[ -s "$IMAGES/operator.oci.tar" && "$(cat "$IMAGES/operator.ref" 2>/dev/null)" == "$ref" ]]; then
    log "operator $ref cached"; return
  fi
  log "operator image: podman build of ./Dockerfile (cold: 3.5-5.5 min on busy cores, pip from the package index)"
  # The build's pip goes through this machine's HTTPS proxy: its CA bundle is mounted for
  # the build only (a volume is never part of a layer). --network=host: no bridge or
  # firewall rules are created on the host for the build.
  local ca=/etc/ssl/certs/ca-certificates.crt
  local mounts=()
  [[ -f "$ca" ]] && mounts=(--volume "$ca:$ca:ro")
  # --format docker: the HEALTHCHECK is kept, as docker build keeps it.
  podman build --format docker --network=host "${mounts[@]}" \
    --build-arg BASE_IMAGE="$BASE_REF" \
    --build-arg PULUMI_FROM="$PULUMI_TOOLS_REF" \
    --build-arg VERSION=0.1.0-dev --build-arg REVISION="$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
    -t "$ref" -f Dockerfile . >&2
  podman save --quiet --format oci-archive -o "$IMAGES/operator.oci.tar.tmp" "$ref"
  mv "$IMAGES/operator.oci.tar.tmp" "$IMAGES/operator.oci.tar"
  echo "$ref" >"$IMAGES/operator.ref"
  # Older builds of this checkout's image only take disk space.
  podman images --format '{{.Repository}}:{{.Tag}}' | grep -x "$OPERATOR_REPO:.*" | grep -vx "$ref" \
    | xargs -r podman rmi --force >/dev/null 2>&1 || true
  log "operator ready: $ref"
}

start=$SECONDS
case "${1:-all}" in
  base) build_base ;;                      # a step alone (e.g. while Go builds run)
  pause) build_pause ;;
  all) build_base; build_pause; pulumi_tools; build_operator ;;
  *) die "unknown step ${1}: base, pause or nothing (everything)" ;;
esac
log "images ready in $((SECONDS - start))s"
echo "$IMAGES"
