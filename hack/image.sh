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
#        hack/image.sh base|pause|moto|operator  one step only (operator: base, pause and
#                                the no-registry operator image, what hack/demo.sh --node needs)
#        hack/image.sh --print   prints the images folder only (no build)
#
# Outputs, in ${PAYPLAT_TESTBIN_CACHE:-~/.cache/payplat/testbin}/images (keyed by content):
#   operator.oci.tar + operator.ref   the operator image (tag = hash of its inputs): the
#                                     README's no-registry build (the CLI, no AWS plugin
#                                     unless PAYPLAT_PULUMI_AWS_PLUGIN names one)
#   operator-standin.oci.tar + .ref   the TEST build: the same Dockerfile, PULUMI_FROM also
#                                     holding the local stand-in AWS provider (hack/aws-standin)
#                                     as pulumi-resource-aws (label io.payplat.pulumi-aws.source
#                                     =standin); it creates nothing anywhere, never deploy it
#   moto.oci.tar     + moto.ref       moto's server (pyproject's moto[server] pin): the S3
#                                     state backend and KMS of the in-cluster real engine
#   pause.oci.tar    + pause.ref      the pod sandbox image, from the kubelet's pause.c
# all OCI archives for `ctr -n k8s.io images import` (a node with no registry).
#
# Measured cold on 2 busy cores: base rootfs 75 s, operator image 3.5-5.5 min (pip layer);
# the stand-in build reuses every layer of it but the last.
set -euo pipefail
cd "$(dirname "$0")/.."

KUBE_VERSION=${KUBE_VERSION:-v1.37.2}
PAUSE_REF=${PAUSE_REF:-registry.k8s.io/pause:3.10.2}
DEBIAN_SUITE=${DEBIAN_SUITE:-bookworm}   # bookworm's python3 is 3.11, as requires-python
BASE_REF=localhost/payplat/python-base:$DEBIAN_SUITE

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
# /opt/pulumi as the Dockerfile's pulumi-release stage would make it: the CLI (from Go
# modules) and pulumi-resource-aws. $1: "plain" (a plugin only when PAYPLAT_PULUMI_AWS_PLUGIN
# names one) or "standin" (the repo's stand-in launcher, with payplat_dev next to it in
# /opt/pulumi/standin; it runs on the image's own venv Python). Sets PULUMI_TOOLS_REF and
# PULUMI_AWS_SOURCE.
pulumi_tools() {
  local variant=$1 cli=${PAYPLAT_PULUMI_CLI:-} plugin=""
  if [[ -z "$cli" && -f hack/pulumi-cli.sh ]]; then cli=$(bash hack/pulumi-cli.sh | tail -n1); fi
  local ctx; ctx=$(mktemp -d)
  mkdir -p "$ctx/opt/pulumi/bin"
  if [[ -n "$cli" && -x "$cli" ]]; then
    cp "$cli" "$ctx/opt/pulumi/bin/pulumi"
  else
    log "WARNING: no Pulumi CLI (hack/pulumi-cli.sh): this image runs the offline engine only"
  fi
  PULUMI_AWS_SOURCE=none
  if [[ "$variant" == standin ]]; then
    cp hack/aws-standin/pulumi-resource-aws "$ctx/opt/pulumi/bin/pulumi-resource-aws"
    mkdir -p "$ctx/opt/pulumi/standin"
    (cd operator && find payplat_dev -name '*.py' -print0 | xargs -0 cp --parents -t "$ctx/opt/pulumi/standin")
    PULUMI_AWS_SOURCE=standin
  else
    plugin=${PAYPLAT_PULUMI_AWS_PLUGIN:-}
    if [[ -n "$plugin" && -e "$plugin" ]]; then
      cp -r "$plugin" "$ctx/opt/pulumi/bin/pulumi-resource-aws"
      PULUMI_AWS_SOURCE=given
    else
      log "no pulumi-resource-aws in the $variant image: its engine=pulumi needs PAYPLAT_PULUMI_AWS_PLUGIN (the stand-in build is operator-standin)"
    fi
  fi
  chmod -R a+rX "$ctx/opt"
  local key; key=$(cd "$ctx" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum | sha256sum | cut -c1-16)
  PULUMI_TOOLS_REF=localhost/payplat/pulumi-tools:$variant-$key
  if ! has_image "$PULUMI_TOOLS_REF"; then
    printf 'FROM scratch\nCOPY opt /opt\n' >"$ctx/Containerfile"
    podman build --quiet --network=none -t "$PULUMI_TOOLS_REF" -f "$ctx/Containerfile" "$ctx" >/dev/null
  fi
  rm -rf "$ctx"
  log "pulumi tools ($variant): $PULUMI_TOOLS_REF"
}

# The build's pip goes through this machine's HTTPS proxy: its CA bundle is mounted for
# the build only (a volume is never part of a layer). --network=host: no bridge or
# firewall rules are created on the host for the build.
pip_build_mounts() {
  local ca=/etc/ssl/certs/ca-certificates.crt
  BUILD_MOUNTS=()
  [[ -f "$ca" ]] && BUILD_MOUNTS=(--volume "$ca:$ca:ro")
  return 0
}

# An image is current when its tag (the hash of its inputs) is in podman and is the one
# its archive was saved from.
is_current() {
  local name=$1 ref=$2
  has_image "$ref" && [[ -s "$IMAGES/$name.oci.tar" && "$(cat "$IMAGES/$name.ref" 2>/dev/null)" == "$ref" ]]
}

save_image() {
  local name=$1 ref=$2
  podman save --quiet --format oci-archive -o "$IMAGES/$name.oci.tar.tmp" "$ref"
  mv "$IMAGES/$name.oci.tar.tmp" "$IMAGES/$name.oci.tar"
  echo "$ref" >"$IMAGES/$name.ref"
  # Older builds of this image only take disk space: remove those this images folder
  # built (podman's store is shared: another checkout's or cache's current image stays).
  local history="$IMAGES/$name.built"
  { cat "$history" 2>/dev/null || true; } | grep -vx "$ref" | xargs -r podman rmi --force >/dev/null 2>&1 || true
  echo "$ref" >"$history"
  log "$name ready: $ref"
}

# ------------------------------------------------------------------ the operator
# $1: "operator" (the README's no-registry build) or "operator-standin" (the test build).
build_operator() {
  local name=$1 variant=plain
  [[ "$name" == operator-standin ]] && variant=standin
  pulumi_tools "$variant"
  # Tag = hash of every input, so an unchanged checkout reuses the image and archive.
  local key
  key=$( { cat Dockerfile .dockerignore pyproject.toml README.md hack/image.sh; echo "$BASE_REF $PULUMI_TOOLS_REF";
           find operator -type f -not -path '*/__pycache__/*' -print0 | sort -z | xargs -0 cat; } \
         | sha256sum | cut -c1-16)
  local ref="localhost/payplat/$name:$key"
  if is_current "$name" "$ref"; then log "$name $ref cached"; return; fi
  log "$name image: podman build of ./Dockerfile (cold: 3.5-5.5 min on busy cores, pip from the package index)"
  pip_build_mounts
  # --format docker: the HEALTHCHECK is kept, as docker build keeps it.
  podman build --format docker --network=host "${BUILD_MOUNTS[@]}" \
    --build-arg BASE_IMAGE="$BASE_REF" \
    --build-arg PULUMI_FROM="$PULUMI_TOOLS_REF" --build-arg PULUMI_AWS_SOURCE="$PULUMI_AWS_SOURCE" \
    --build-arg VERSION=0.1.0-dev --build-arg REVISION="$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
    -t "$ref" -f Dockerfile . >&2
  save_image "$name" "$ref"
}

# ------------------------------------------------------------------ moto (test service)
# moto's server at pyproject's pin, on the same Debian base, as UID 65534: the S3 state
# backend and KMS secrets provider of the real engine in the node lane (tests/node).
build_moto() {
  local pin
  pin=$(grep -o '"moto\[server\]==[^"]*"' pyproject.toml | tr -d '"')
  [[ -n "$pin" ]] || die "no moto[server]==<version> pin in pyproject.toml"
  local ctx; ctx=$(mktemp -d)
  cat >"$ctx/Containerfile" <<CONTAINERFILE
FROM $BASE_REF
RUN python3 -m venv /opt/moto \\
 && /opt/moto/bin/pip install --no-cache-dir --disable-pip-version-check '$pin' \\
 && /opt/moto/bin/moto_server --help >/dev/null
USER 65534:65534
EXPOSE 5000
ENTRYPOINT ["/opt/moto/bin/moto_server"]
CMD ["-H", "0.0.0.0", "-p", "5000"]
CONTAINERFILE
  local key; key=$(cat "$ctx/Containerfile" | sha256sum | cut -c1-16)
  local ref=localhost/payplat/moto:$key
  if is_current moto "$ref"; then log "moto $ref cached"; rm -rf "$ctx"; return; fi
  log "moto image: $pin (cold: 1-2 min, pip from the package index)"
  pip_build_mounts
  podman build --format docker --network=host "${BUILD_MOUNTS[@]}" -t "$ref" -f "$ctx/Containerfile" "$ctx" >&2
  rm -rf "$ctx"
  save_image moto "$ref"
}

start=$SECONDS
case "${1:-all}" in
  base) build_base ;;                      # a step alone (e.g. while Go builds run)
  pause) build_pause ;;
  moto) build_base; build_moto ;;
  operator) build_base; build_pause; build_operator operator ;;   # what hack/demo.sh --node runs
  all) build_base; build_pause; build_operator operator; build_operator operator-standin; build_moto ;;
  *) die "unknown step ${1}: base, pause, moto, operator or nothing (everything)" ;;
esac
log "images ready in $((SECONDS - start))s"
echo "$IMAGES"
