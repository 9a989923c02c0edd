#!/usr/bin/env bash
# The README's first command: the main job on the embedded default, on this machine.
# Installs the project, builds (once; cached) or reuses etcd, kube-apiserver, helm and
# kubectl, then `payplat demo`: a local control plane, the CRD, the operator with the
# offline engine, examples/ applied and shown Ready. Extra arguments go to `payplat demo`
# (e.g. --exit to stop once everything is Ready instead of waiting for Ctrl-C).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "[demo] installing payment-platform-operator (pinned dependencies)"
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -e '.[test]'

echo "[demo] control-plane binaries: a cold build takes minutes and prints progress; cached afterwards"
bin=$(bash hack/testbin.sh)

echo "[demo] payplat demo"
PAYPLAT_TESTBIN_BIN="$bin" exec python3 -m payplat.cli demo "$@"
