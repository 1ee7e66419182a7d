"""`make image` for real: the built OCI archives, unpacked by umoci and run by runc.

The images are built once per session with the same code as `make image` (hack/image/build.py; warm
caches make that seconds), each archive is unpacked with `umoci unpack` into a runc bundle, and the
containers run with Debian's runc, as a kubelet's containerd would run them:

* drkit.local/drkit:dev: `drkit --version` as uid 65532, on a read-only root file system; no shell
  (exec of /bin/sh fails), no apt, dpkg, pip or perl, no setuid files; etcdutl at the pinned version;
* drkit.local/testapp:1: busybox's sha256sum and httpd (served and fetched inside the container);
* drkit.local/pause:1: runs `sleep 2147483647` until it is killed.

Needs root, mmdebstrap, umoci, runc, busybox-static (hack/system-deps.sh) and etcdutl (make testbin).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from drkit import __version__
from tests.imagebuild import ROOT, build
from tests.infra.plugin import missing

pytestmark = [pytest.mark.image, pytest.mark.timeout(1800)]

IMAGES = ROOT / ".testbin" / "images"
ETCDUTL = ROOT / ".testbin" / "bin" / "etcdutl"


@pytest.fixture(scope="session")
def built_images() -> Path:
    if os.geteuid() != 0:
        missing("root (make image runs mmdebstrap and chroot; runc runs the containers)", "run as root")
    for tool in ("mmdebstrap", "umoci", "runc"):
        if shutil.which(tool) is None:
            missing(tool, "run hack/system-deps.sh")
    if not build.BUSYBOX.is_file():
        missing("busybox-static", "run hack/system-deps.sh")
    if not ETCDUTL.is_file():
        missing("etcdutl", "run `make testbin` or `bash hack/testbin/build.sh etcd`")
    result = subprocess.run(
        [sys.executable, str(ROOT / "hack/image/build.py"), "--out", str(IMAGES), "--etcdutl", str(ETCDUTL)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=1700,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    return IMAGES


# Run inside the drkit image by its venv's Python: what a user, or an attacker, finds there.
PROBE = """
import json, os, shutil, stat, sys
import drkit.cli.main, drkit.kube.client, drkit.storage.s3

setuid = []
for top in ("/usr", "/etc", "/opt", "/var"):
    for d, _, files in os.walk(top):
        for f in files:
            mode = os.lstat(os.path.join(d, f)).st_mode
            if not stat.S_ISLNK(mode) and mode & (stat.S_ISUID | stat.S_ISGID):
                setuid.append(os.path.join(d, f))
tools = ["sh", "bash", "dash", "rbash", "apt", "apt-get", "dpkg", "pip", "pip3", "perl", "su", "mount"]
print(json.dumps({
    "uid": os.getuid(),
    "gid": os.getgid(),
    "found": {t: shutil.which(t) for t in tools},
    "bin_sh": os.path.lexists("/bin/sh"),
    "setuid": setuid,
    "prefix": sys.prefix,
    "cache_owner": os.stat("/var/cache/drkit").st_uid,
    "dpkg_status": os.path.exists("/var/lib/dpkg/status"),
    "python": sys.version_info[:2],
}))
"""


@dataclass
class Bundle:
    """A runc bundle unpacked by umoci from one built archive."""

    path: Path
    image_config: dict[str, Any]
    state: Path

    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = json.loads((self.path / "config.json.orig").read_text())
        return spec

    def run(
        self, args: list[str] | None = None, *, read_only: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run one container of the image to its end (`runc run`), args as a pod's command would set."""
        spec = self.spec()
        spec["process"]["terminal"] = False
        if args is not None:
            spec["process"]["args"] = args
        spec["root"]["readonly"] = read_only
        (self.path / "config.json").write_text(json.dumps(spec))
        cid = f"drkit-image-test-{uuid.uuid4().hex[:8]}"
        return subprocess.run(
            ["runc", "--root", str(self.state), "run", "--bundle", str(self.path), cid],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            check=False,
            timeout=timeout,
        )


def _unpack(images: Path, archive: str, name: str, tmp: Path) -> Bundle:
    layout = tmp / "layout"
    with tarfile.open(images / archive) as tar:
        tar.extractall(layout, filter="tar")
    bundle = tmp / "bundle"
    result = subprocess.run(
        ["umoci", "unpack", "--image", f"{layout}:{name}", str(bundle)],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr
    shutil.copy(bundle / "config.json", bundle / "config.json.orig")
    index = json.loads((layout / "index.json").read_text())
    [desc] = index["manifests"]
    blobs = layout / "blobs/sha256"
    manifest = json.loads((blobs / desc["digest"].removeprefix("sha256:")).read_text())
    config = json.loads((blobs / manifest["config"]["digest"].removeprefix("sha256:")).read_text())
    shutil.rmtree(layout)
    state = tmp / "runc"
    state.mkdir()
    return Bundle(bundle, config, state)


@pytest.fixture(scope="session")
def drkit_image(built_images: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bundle]:
    tmp = tmp_path_factory.mktemp("drkit-image")
    yield _unpack(built_images, "drkit.oci.tar", build.DRKIT.name, tmp)
    shutil.rmtree(tmp, ignore_errors=True)  # an unpacked drkit image is ~400 MB


@pytest.fixture(scope="session")
def testapp_image(built_images: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bundle]:
    tmp = tmp_path_factory.mktemp("testapp")
    yield _unpack(built_images, "testapp.oci.tar", build.TESTAPP_NAME, tmp)
    shutil.rmtree(tmp, ignore_errors=True)  # an unpacked drkit image is ~400 MB


@pytest.fixture(scope="session")
def pause_image(built_images: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bundle]:
    tmp = tmp_path_factory.mktemp("pause")
    yield _unpack(built_images, "pause.oci.tar", build.PAUSE_NAME, tmp)
    shutil.rmtree(tmp, ignore_errors=True)  # an unpacked drkit image is ~400 MB


def test_archives_carry_the_full_names(built_images: Path) -> None:
    summary = json.loads((built_images / "images.json").read_text())
    assert [s["name"] for s in summary] == [build.DRKIT.name, build.TESTAPP_NAME, build.PAUSE_NAME]
    assert all("." in s["name"].split("/")[0] for s in summary)  # a dotted host: never pulled from docker.io
    for s in summary:
        assert Path(s["archive"]).is_file()


def test_drkit_runs_as_65532_on_a_read_only_root(drkit_image: Bundle) -> None:
    config = drkit_image.image_config["config"]
    assert config["User"] == "65532:65532"
    assert config["Entrypoint"] == ["drkit"]
    assert drkit_image.spec()["process"]["user"] == {"uid": 65532, "gid": 65532}

    result = drkit_image.run(["drkit", "--version"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"drkit, version {__version__}"

    result = drkit_image.run(["python", "-c", PROBE])
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert (seen["uid"], seen["gid"]) == (65532, 65532)
    assert seen["found"] == dict.fromkeys(seen["found"])  # no shell, no package manager, none at all
    assert seen["bin_sh"] is False
    assert seen["setuid"] == []
    assert seen["prefix"] == build.DRKIT.venv
    assert seen["cache_owner"] == 65532  # an emptyDir in Kubernetes; the image's own is the user's
    assert seen["dpkg_status"] is True  # kept for image scanners
    assert seen["python"] == [3, 11]


def test_drkit_image_has_no_shell_to_exec(drkit_image: Bundle) -> None:
    for shell in ("/bin/sh", "/bin/bash", "/usr/bin/dash"):
        result = drkit_image.run([shell, "-c", "true"])
        assert result.returncode != 0, shell
        assert "no such file or directory" in result.stderr, result.stderr


def test_drkit_image_has_the_pinned_etcdutl(drkit_image: Bundle) -> None:
    result = drkit_image.run(["etcdutl", "version"])
    assert result.returncode == 0, result.stderr
    assert f"etcdutl version: {build.etcd_version().removeprefix('v')}" in result.stdout
    assert drkit_image.image_config["config"]["Labels"]["io.drkit.etcd-version"] == build.etcd_version()


def test_testapp_runs_sha256sum_and_serves_http(testapp_image: Bundle) -> None:
    result = testapp_image.run(["sh", "-c", "printf hello | sha256sum"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == hashlib.sha256(b"hello").hexdigest()

    # httpd and wget inside the container's own network namespace (its loopback only)
    script = (
        "mkdir -p /tmp/www && echo served-by-busybox > /tmp/www/index.html"
        " && httpd -p 127.0.0.1:8080 -h /tmp/www && sleep 0.2"
        " && wget -q -O - http://127.0.0.1:8080/index.html"
    )
    result = testapp_image.run(["sh", "-c", script], read_only=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "served-by-busybox"


def test_pause_sleeps_until_killed(pause_image: Bundle) -> None:
    config = pause_image.image_config["config"]
    assert config["Entrypoint"] == list(build.PAUSE_ENTRYPOINT)
    spec = pause_image.spec()
    spec["process"]["terminal"] = False
    (pause_image.path / "config.json").write_text(json.dumps(spec))
    runc = ["runc", "--root", str(pause_image.state)]
    cid = f"drkit-pause-test-{uuid.uuid4().hex[:8]}"
    subprocess.run(
        [*runc, "run", "--detach", "--bundle", str(pause_image.path), cid],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
        timeout=60,
    )
    try:
        time.sleep(1)
        state = json.loads(subprocess.run([*runc, "state", cid], capture_output=True, check=True).stdout)
        assert state["status"] == "running"
        cmdline = Path(f"/proc/{state['pid']}/cmdline").read_bytes().split(b"\0")
        assert cmdline[:3] == [b"/bin/busybox", b"sleep", b"2147483647"]
    finally:
        subprocess.run([*runc, "delete", "--force", cid], capture_output=True, check=False, timeout=60)
