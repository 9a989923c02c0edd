"""Certificates for the local control plane, made with the ``openssl`` CLI.

kube-apiserver refuses to run without TLS and an authenticator, and a local cluster needs
no more than envtest makes: one CA, a serving certificate for 127.0.0.1/localhost, an
admin client certificate in ``system:masters`` (which RBAC lets do anything) and one RSA
key that both signs and verifies service-account tokens. The ``openssl`` CLI is on every
machine that builds Go, so no Python crypto dependency is needed for this.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Pki", "issue_cert", "make_pki"]

_DAYS = "2"  # a test cluster lives minutes; short validity keeps leaked files useless


@dataclass(frozen=True)
class Pki:
    """Paths of the generated files, all PEM."""

    ca_cert: Path
    ca_key: Path
    serving_cert: Path
    serving_key: Path
    admin_cert: Path
    admin_key: Path
    service_account_key: Path


def make_pki(directory: Path, serving_sans: tuple[str, ...] = ()) -> Pki:
    """Write a fresh CA and the certificates signed by it into ``directory``.

    ``serving_sans`` adds subjectAltNames (``IP:...``, ``DNS:...``) to the API server's
    certificate, for a server reached other than on loopback (the node harness's).
    """
    directory.mkdir(parents=True, exist_ok=True)
    pki = Pki(
        ca_cert=directory / "ca.crt",
        ca_key=directory / "ca.key",
        serving_cert=directory / "apiserver.crt",
        serving_key=directory / "apiserver.key",
        admin_cert=directory / "admin.crt",
        admin_key=directory / "admin.key",
        service_account_key=directory / "sa.key",
    )
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        _DAYS,
        "-subj",
        "/CN=payplat-local-ca",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout",
        str(pki.ca_key),
        "-out",
        str(pki.ca_cert),
    )
    sans = ",".join(("IP:127.0.0.1", "DNS:localhost", *serving_sans))
    issue_cert(
        pki,
        pki.serving_cert,
        pki.serving_key,
        subject="/CN=kube-apiserver",
        extensions=[
            f"subjectAltName={sans}",
            "extendedKeyUsage=serverAuth",
            "keyUsage=critical,digitalSignature,keyEncipherment",
        ],
    )
    # O=system:masters is the group RBAC always allows: the harness's own identity.
    issue_cert(
        pki,
        pki.admin_cert,
        pki.admin_key,
        subject="/O=system:masters/CN=payplat-admin",
        extensions=["extendedKeyUsage=clientAuth", "keyUsage=critical,digitalSignature,keyEncipherment"],
    )
    _openssl("genrsa", "-out", str(pki.service_account_key), "2048")
    return pki


def issue_cert(pki: Pki, cert: Path, key: Path, *, subject: str, extensions: list[str]) -> None:
    """A new key and a certificate for it signed by the CA (``extensions``: openssl lines)."""
    csr = cert.with_suffix(".csr")
    ext_file = cert.with_suffix(".ext")
    ext_file.write_text("\n".join(extensions) + "\n")
    _openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", subject, "-keyout", str(key), "-out", str(csr))
    _openssl(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(pki.ca_cert),
        "-CAkey",
        str(pki.ca_key),
        "-CAcreateserial",
        "-days",
        _DAYS,
        "-extfile",
        str(ext_file),
        "-out",
        str(cert),
    )


def _openssl(*args: str) -> None:
    result = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {result.stderr.strip()}")
