"""Kubeconfig files for the sandbox's users, with the certificates embedded (0600: they hold keys)."""

from __future__ import annotations

import base64
from pathlib import Path

import yaml

from drkit.sandbox.pki import CertFiles, write_private


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def write(
    path: Path, *, server: str, ca_file: Path, user: str, client: CertFiles, context: str = "drkit-sandbox"
) -> Path:
    """A single-context kubeconfig for ``user`` at ``server``."""
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": context, "cluster": {"server": server, "certificate-authority-data": _b64(ca_file)}}
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": _b64(client.cert),
                    "client-key-data": _b64(client.key),
                },
            }
        ],
        "contexts": [{"name": context, "context": {"cluster": context, "user": user}}],
        "current-context": context,
        "preferences": {},
    }
    return write_private(path, yaml.safe_dump(doc, sort_keys=False).encode())
