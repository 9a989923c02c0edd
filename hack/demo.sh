#!/usr/bin/env bash
# The README's first command: the main job on the embedded default, on this machine.
# Installs the project, builds (once; cached) or reuses etcd, kube-apiserver, helm and
# kubectl, then `payplat demo`: a local control plane, the CRD, the operator with the
# offline engine, examples/ applied and shown Ready. Extra arguments go to `payplat demo`
# (e.g. --exit to stop once everything is Ready instead of waiting for Ctrl-C).
#
# `hack/demo.sh --node [--exit]`: the same operator as a pod (the image built here from
# the Dockerfile) on a real local node: kubelet, containerd, controller manager and
# scheduler (hack/node.sh; cold ~17 min of Go builds, cached), images (hack/image.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
# The demo's harness (payplat_dev, tests.node) is imported from the checkout, never installed.
export PYTHONPATH="$PWD/operator${PYTHONPATH:+:$PYTHONPATH}"

echo "[demo] installing payment-platform-operator (pinned dependencies)"
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -e '.[test]'

echo "[demo] control-plane binaries: a cold build takes minutes and prints progress; cached afterwards"
bin=$(bash hack/testbin.sh)

if [[ "${1:-}" == "--node" ]]; then
  shift
  bash hack/node.sh >/dev/null
  bash hack/image.sh operator >/dev/null
  echo "[demo] the operator as a pod on a local node"
  exec python3 -m tests.node.demo "$@"
fi

if [[ " $* " == *" --engine pulumi "* || " $* " == *" --engine=pulumi "* ]]; then
  echo "[demo] Pulumi CLI for --engine pulumi (cold build: 8-13 minutes on 2 cores; cached afterwards)"
  bash hack/pulumi-cli.sh >/dev/null
fi

echo "[demo] payplat demo"
PAYPLAT_TESTBIN_BIN="$bin" exec python3 -m payplat.cli demo "$@"
