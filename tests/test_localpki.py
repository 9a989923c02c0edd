"""The local control plane's certificates: what kube-apiserver and its clients rely on."""

from __future__ import annotations

import subprocess
from pathlib import Path

from payplat_dev.localpki import make_pki


def _openssl(*args: str) -> str:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=True).stdout


def test_certificates_chain_to_the_ca_and_carry_what_the_api_server_checks(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)

    verified = _openssl("verify", "-CAfile", str(pki.ca_cert), str(pki.serving_cert), str(pki.admin_cert))
    serving = _openssl("x509", "-in", str(pki.serving_cert), "-noout", "-text")
    admin = _openssl("x509", "-in", str(pki.admin_cert), "-noout", "-subject", "-ext", "extendedKeyUsage")

    assert verified.count(": OK") == 2
    assert "IP Address:127.0.0.1" in serving and "DNS:localhost" in serving
    assert "TLS Web Server Authentication" in serving
    assert "O=system:masters" in admin.replace(" = ", "=")  # RBAC's always-allowed group
    assert "TLS Web Client Authentication" in admin
    assert "PRIVATE KEY" in pki.service_account_key.read_text()
