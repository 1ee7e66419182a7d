"""pytest fixtures: a fresh single-member etcd per test, plain (`etcd`) or with client certs (`etcd_tls`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from drkit.errors import MissingComponent
from drkit.sandbox.etcd import EtcdServer
from tests.infra.plugin import missing


def _start(workdir: Path, *, tls: bool) -> EtcdServer:
    try:
        return EtcdServer.start(workdir, tls=tls)
    except MissingComponent as exc:
        missing(str(exc), exc.hint or "run `make testbin`")
        raise  # unreachable: missing() skips or fails


@pytest.fixture
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdServer]:
    """A plain-HTTP etcd on a free loopback port."""
    server = _start(tmp_path_factory.mktemp("etcd"), tls=False)
    yield server
    server.stop()


@pytest.fixture
def etcd_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdServer]:
    """An etcd that demands client certificates (``ca_file``, ``cert_file``, ``key_file``)."""
    server = _start(tmp_path_factory.mktemp("etcd-tls"), tls=True)
    yield server
    server.stop()
