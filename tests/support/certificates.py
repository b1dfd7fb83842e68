"""Keys and certificates for TLS tests, made by openssl."""

from __future__ import annotations

import subprocess
from pathlib import Path


def certificate(directory: Path, name: str, *, ca: tuple[Path, Path] | None = None) -> tuple[Path, Path]:
    """A key and certificate for CN=localhost (self-signed, or signed by ``ca``)."""
    key, cert = directory / f"{name}.key", directory / f"{name}.pem"
    subject = ["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"]
    if ca is None:
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-keyout",
                key,
                "-out",
                cert,
                *subject,
            ],
            check=True,
            capture_output=True,
        )
    else:
        request = directory / f"{name}.csr"
        subprocess.run(
            [
                "openssl",
                "req",
                "-new",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                key,
                "-out",
                request,
                *subject,
            ],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [
                "openssl",
                "x509",
                "-req",
                "-in",
                request,
                "-CA",
                ca[1],
                "-CAkey",
                ca[0],
                "-CAcreateserial",
                "-days",
                "1",
                "-out",
                cert,
                "-copy_extensions",
                "copy",
            ],
            check=True,
            capture_output=True,
        )
    return key, cert
