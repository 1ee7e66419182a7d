"""A single-member etcd on loopback, plain or with client-certificate auth laid out like kubeadm's."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path

from drkit.sandbox import binaries, http, process
from drkit.sandbox.pki import CertFiles, CertificateAuthority
from drkit.sandbox.ports import free_port

HEALTH_TIMEOUT = 60.0


@dataclass(frozen=True)
class EtcdTLS:
    """The files of ``<workdir>/pki/etcd`` (kubeadm names): the CA, the server, a client."""

    ca: CertFiles
    server: CertFiles
    peer: CertFiles
    client: CertFiles  # healthcheck-client: what the tests and drkit present


@dataclass
class EtcdServer:
    """A running etcd. ``endpoint`` is its client URL; the TLS file attributes are None when plain."""

    process: process.Process
    endpoint: str
    peer_url: str
    data_dir: Path
    name: str
    tls: EtcdTLS | None = None
    _ca: CertificateAuthority | None = field(default=None, repr=False)

    @property
    def ca_file(self) -> Path | None:
        return self.tls.ca.cert if self.tls else None

    @property
    def cert_file(self) -> Path | None:
        return self.tls.client.cert if self.tls else None

    @property
    def key_file(self) -> Path | None:
        return self.tls.client.key if self.tls else None

    @property
    def pid(self) -> int:
        return self.process.pid

    @classmethod
    def start(
        cls,
        workdir: Path,
        tls: bool = False,
        *,
        name: str = "etcd",
        data_dir: Path | None = None,
        timeout: float = HEALTH_TIMEOUT,
    ) -> EtcdServer:
        """Start etcd with its data in ``data_dir`` (default ``<workdir>/<name>-data``), wait for health.

        An existing ``data_dir`` (e.g. from ``etcdutl snapshot restore``) is reused as it is.
        """
        exe = binaries.find("etcd")
        workdir.mkdir(parents=True, exist_ok=True)
        data_dir = data_dir or workdir / f"{name}-data"
        scheme = "https" if tls else "http"
        client_url = f"{scheme}://127.0.0.1:{free_port()}"
        peer_url = f"{scheme}://127.0.0.1:{free_port()}"
        argv: list[str | Path] = [
            exe,
            f"--name={name}",
            f"--data-dir={data_dir}",
            f"--listen-client-urls={client_url}",
            f"--advertise-client-urls={client_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster={name}={peer_url}",
            "--initial-cluster-state=new",
            "--unsafe-no-fsync",
            "--log-level=warn",
        ]
        ca: CertificateAuthority | None = None
        files: EtcdTLS | None = None
        if tls:
            ca = CertificateAuthority.create("etcd-ca")
            files = _write_tls(ca, workdir / "pki" / "etcd")
            argv += [
                "--client-cert-auth",
                f"--trusted-ca-file={files.ca.cert}",
                f"--cert-file={files.server.cert}",
                f"--key-file={files.server.key}",
                "--peer-client-cert-auth",
                f"--peer-trusted-ca-file={files.ca.cert}",
                f"--peer-cert-file={files.peer.cert}",
                f"--peer-key-file={files.peer.key}",
            ]
        proc = process.start(name, argv, workdir / f"{name}.log")
        server = cls(proc, client_url, peer_url, data_dir, name, files, ca)
        try:
            process.wait_until(
                server.healthy, what=f"{name} health at {client_url}", process=proc, timeout=timeout
            )
        except BaseException:
            proc.stop()
            raise
        return server

    def client_context(self) -> ssl.SSLContext | None:
        """The TLS context a client needs (CA + client certificate), or None for a plain server."""
        if self.tls is None:
            return None
        return http.tls_context(self.tls.ca.cert, self.tls.client.cert, self.tls.client.key)

    def healthy(self) -> bool:
        doc = http.call_json("GET", f"{self.endpoint}/health", context=self.client_context(), timeout=2.0)
        return isinstance(doc, dict) and str(doc.get("health")).lower() == "true"

    def issue_client(self, directory: Path, name: str, common_name: str) -> CertFiles:
        """Another client certificate from this server's CA (e.g. ``apiserver-etcd-client``)."""
        if self._ca is None:
            raise ValueError(f"{self.name} runs without TLS: it has no CA")
        return self._ca.issue_client(
            directory, name, common_name=common_name, organizations=["system:masters"]
        )

    def stop(self) -> None:
        self.process.stop()


def _write_tls(ca: CertificateAuthority, directory: Path) -> EtcdTLS:
    return EtcdTLS(
        ca=ca.write(directory, "ca"),
        server=ca.issue_server(directory, "server", common_name="etcd-server", client_auth=True),
        peer=ca.issue_server(directory, "peer", common_name="etcd-peer", client_auth=True),
        client=ca.issue_client(
            directory,
            "healthcheck-client",
            common_name="kube-etcd-healthcheck-client",
            organizations=["system:masters"],
        ),
    )
