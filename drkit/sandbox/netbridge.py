"""The pod network of a sandbox with real nodes: one Linux bridge inside this machine.

Each sandbox gets its own bridge ``drkitbr<k>`` and subnet ``10.<200+k>.0.0/16``:

* ``.0.1`` is the gateway: the address on which the sandbox's servers that pods must reach listen
  (the API server, MinIO), so the same endpoint works from the host and from every pod;
* ``.0.<10+i>`` is node ``i``'s address (its kubelet listens there; the API server reaches it there
  for exec, logs and port-forward);
* ``.<1+i>.0/24`` are node ``i``'s pod addresses (CNI ``bridge`` + ``host-local``), all on the one
  bridge, so pods of different nodes talk without routing.

Pods reach the API server through the ``kubernetes`` Service (``10.0.0.1:443``, what in-cluster
clients use) by one DNAT rule for traffic that enters from the bridge; there is no kube-proxy.
Nothing here leaves the machine: no masquerading, no route out.
"""

from __future__ import annotations

import ipaddress
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drkit.errors import SandboxError

PREFIX = "drkitbr"
FIRST_OCTET = 200
MAX_BRIDGES = 40
SERVICE_IP = "10.0.0.1"  # the `kubernetes` Service (first address of kubecomponents.SERVICE_CIDR)
SERVICE_PORT = 443


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise SandboxError(f"`{' '.join(argv)}` failed: {done.stderr.strip() or done.stdout.strip()}")
    return done


def _exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


@dataclass(frozen=True)
class Bridge:
    name: str
    index: int

    @property
    def subnet(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(f"10.{FIRST_OCTET + self.index}.0.0/16")

    @property
    def gateway(self) -> str:
        return str(self.subnet.network_address + 1)

    def node_ip(self, node: int) -> str:
        return str(self.subnet.network_address + 10 + node)

    def pod_range(self, node: int) -> tuple[str, str]:
        base = self.subnet.network_address + (1 + node) * 256
        return str(base + 1), str(base + 254)

    def pod_cidr(self, node: int) -> str:
        return f"{self.subnet.network_address + (1 + node) * 256}/24"

    @classmethod
    def create(cls) -> Bridge:
        """A new bridge with the gateway and no node yet; raises ``SandboxError`` when none is free."""
        for index in range(MAX_BRIDGES):
            name = f"{PREFIX}{index}"
            if _exists(name):
                continue
            done = _run("ip", "link", "add", "name", name, "type", "bridge", check=False)
            if done.returncode != 0:
                if _exists(name):  # another sandbox took it meanwhile
                    continue
                raise SandboxError(f"cannot create the pod network bridge {name}: {done.stderr.strip()}")
            bridge = cls(name, index)
            try:
                _run("ip", "addr", "add", f"{bridge.gateway}/16", "dev", name)
                _run("ip", "link", "set", name, "up")
            except BaseException:
                bridge.delete()
                raise
            return bridge
        raise SandboxError(f"no free pod network bridge ({PREFIX}0..{PREFIX}{MAX_BRIDGES - 1} all exist)")

    def add_node(self, node: int) -> str:
        """Give node ``node`` its address on the bridge; returns it."""
        ip = self.node_ip(node)
        done = _run("ip", "addr", "add", f"{ip}/16", "dev", self.name, check=False)
        if done.returncode != 0 and "File exists" not in done.stderr:
            raise SandboxError(f"cannot add {ip} to {self.name}: {done.stderr.strip()}")
        return ip

    def delete(self) -> None:
        """Remove the bridge (and with it its addresses) and the Service rule; quiet when gone."""
        remove_service_rule(self)
        if _exists(self.name):
            _run("ip", "link", "delete", self.name, check=False)

    def cni_conflist(self, node: int) -> dict[str, Any]:
        first, last = self.pod_range(node)
        return {
            "cniVersion": "0.4.0",
            "name": f"drkit-{self.name}",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": self.name,
                    "isGateway": True,
                    "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [
                            [
                                {
                                    "subnet": str(self.subnet),
                                    "rangeStart": first,
                                    "rangeEnd": last,
                                    "gateway": self.gateway,
                                }
                            ]
                        ],
                        "routes": [{"dst": "0.0.0.0/0"}],
                    },
                },
                {"type": "loopback"},
            ],
        }

    def record(self) -> dict[str, Any]:
        return {"name": self.name, "index": self.index}


def _rule(bridge: Bridge, port: int) -> list[str]:
    return [
        "PREROUTING",
        "-i",
        bridge.name,
        "-d",
        f"{SERVICE_IP}/32",
        "-p",
        "tcp",
        "--dport",
        str(SERVICE_PORT),
        "-m",
        "comment",
        "--comment",
        f"drkit-sandbox-{bridge.name}",
        "-j",
        "DNAT",
        "--to-destination",
        f"{bridge.gateway}:{port}",
    ]


def add_service_rule(bridge: Bridge, apiserver_port: int) -> None:
    """Pods' traffic to the ``kubernetes`` Service goes to the API server on the gateway."""
    _run("iptables", "-t", "nat", "-A", *_rule(bridge, apiserver_port))


def remove_service_rule(bridge: Bridge) -> None:
    """Delete every rule this sandbox added (found by its comment)."""
    listed = _run("iptables", "-t", "nat", "-S", "PREROUTING", check=False)
    mark = f"drkit-sandbox-{bridge.name}"
    for line in listed.stdout.splitlines():
        if mark in line and line.startswith("-A "):
            _run("iptables", "-t", "nat", "-D", *line.split()[1:], check=False)
