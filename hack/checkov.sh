#!/usr/bin/env bash
# Run checkov (pinned) from its own virtualenv, so its large dependency tree never mixes
# with the operator's. Creates the venv on first use; CI and tests/ship/test_checkov.py
# call this script.
#
# Usage: hack/checkov.sh [checkov args...]      e.g. hack/checkov.sh -d manifests --framework kubernetes
#        hack/checkov.sh --print                prints where the checkov executable is (no install)
#
# The venv lives in ${PAYPLAT_CHECKOV_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/payplat/checkov-venv}.
set -euo pipefail

CHECKOV_VERSION=${CHECKOV_VERSION:-3.3.30}
VENV=${PAYPLAT_CHECKOV_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/payplat/checkov-venv}
CHECKOV="$VENV/bin/checkov"

installed_version() { "$CHECKOV" --version 2>/dev/null || true; }

if [[ "${1:-}" == "--print" ]]; then echo "$CHECKOV"; exit 0; fi

if [[ ! -x "$CHECKOV" || "$(installed_version)" != "$CHECKOV_VERSION" ]]; then
  echo "[checkov] installing checkov $CHECKOV_VERSION into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION" >&2
fi

# --skip-download: no calls home for guidelines or updated checks (offline, reproducible).
exec "$CHECKOV" --skip-download "$@"
