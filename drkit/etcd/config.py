"""Where etcd is and how to talk to it: endpoint URLs and TLS client-certificate settings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from drkit.errors import ConfigError

if TYPE_CHECKING:  # loaded by context(): `backup run` parses its endpoints before the key derivation
    import ssl

KUBEADM_PKI_DIR = Path("/etc/kubernetes/pki/etcd")
"""Where kubeadm keeps etcd's certificates on a control-plane node."""

DEFAULT_PORT = 2379


@dataclass(frozen=True)
class EtcdEndpoint:
    """One etcd client URL, normalised: ``scheme://host:port`` (scheme ``http`` or ``https``)."""

    scheme: str
    host: str
    port: int

    @classmethod
    def parse(cls, text: str, *, default_scheme: str = "https") -> EtcdEndpoint:
        """Parse ``https://10.0.0.1:2379``, ``10.0.0.1:2379``, ``[::1]:2379`` or ``etcd-0`` (port 2379).

        ``default_scheme`` applies when the text has none (``https`` when TLS is configured).
        """
        raw = text.strip()
        if not raw:
            raise ConfigError("an etcd endpoint is empty", field="etcd endpoints")
        if "://" not in raw:
            raw = f"{default_scheme}://{raw}"
        parts = urlsplit(raw)
        if parts.scheme not in ("http", "https"):
            raise ConfigError(
                f"etcd endpoint {text!r}: scheme {parts.scheme!r} is not http or https",
                field="etcd endpoints",
            )
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ConfigError(
                f"etcd endpoint {text!r} must be scheme://host:port only", field="etcd endpoints"
            )
        try:
            port = parts.port or DEFAULT_PORT
        except ValueError as exc:
            raise ConfigError(f"etcd endpoint {text!r}: bad port", field="etcd endpoints") from exc
        if not parts.hostname:
            raise ConfigError(f"etcd endpoint {text!r} has no host", field="etcd endpoints")
        return cls(parts.scheme, parts.hostname, port)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def tls(self) -> bool:
        return self.scheme == "https"

    def __str__(self) -> str:
        return self.url


@dataclass(frozen=True)
class EtcdTLS:
    """TLS settings for etcd's client port: the CA that signed the server, and a client certificate.

    kubeadm's etcd demands a client certificate signed by its own CA (``--client-cert-auth``);
    :meth:`kubeadm` is that layout. ``ca_file=None`` trusts the system store instead.
    """

    ca_file: Path | None
    cert_file: Path | None = None
    key_file: Path | None = None
    server_name: str | None = None
    """Check the server certificate against this name instead of the endpoint's host."""

    @classmethod
    def kubeadm(cls, pki_dir: Path = KUBEADM_PKI_DIR) -> EtcdTLS:
        """``<pki_dir>/{ca.crt,healthcheck-client.crt,healthcheck-client.key}``: the client kubeadm
        issues for probes. Its subject is in ``system:masters``; it may take snapshots."""
        return cls(
            ca_file=pki_dir / "ca.crt",
            cert_file=pki_dir / "healthcheck-client.crt",
            key_file=pki_dir / "healthcheck-client.key",
        )

    def check(self) -> None:
        """Raise ``ConfigError`` naming the file when a configured file is missing or unreadable."""
        if (self.cert_file is None) != (self.key_file is None):
            raise ConfigError("an etcd client certificate needs both --etcd-cert and --etcd-key")
        for what, path in (
            ("CA", self.ca_file),
            ("client certificate", self.cert_file),
            ("key", self.key_file),
        ):
            if path is None:
                continue
            try:
                with path.open("rb"):
                    pass
            except OSError as exc:
                raise ConfigError(f"etcd {what} {path}: {exc.strerror or exc}", file=str(path)) from exc

    def context(self) -> ssl.SSLContext:
        """An ``SSLContext`` for the client side (verifies the server; presents the client cert)."""
        import ssl

        self.check()
        try:
            ctx = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
            if self.cert_file is not None and self.key_file is not None:
                ctx.load_cert_chain(str(self.cert_file), str(self.key_file))
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(
                f"etcd TLS files (CA {self.ca_file}, cert {self.cert_file}, key {self.key_file}): {exc}"
            ) from exc
        return ctx


def endpoints_from(text: str | Sequence[str]) -> list[str]:
    """``--etcd-endpoints a,b`` or a list: the endpoint strings, blanks dropped."""
    items = text.split(",") if isinstance(text, str) else list(text)
    return [i.strip() for i in items if i.strip()]
