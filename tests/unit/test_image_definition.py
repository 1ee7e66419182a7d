"""The Dockerfile and `make image` (hack/image/build.py) define the same drkit image.

Two definitions of one image drift apart unless something compares them: this test reads the
Dockerfile and checks the things that matter against build.DRKIT: the Python and Debian release, the
etcd pin, the user, the venv, the entrypoint, the environment, the labels, and that every path the
Dockerfile removes is removed by `make image` too.
"""

from __future__ import annotations

import json
import re
import shlex

from tests.imagebuild import ROOT, build

DOCKERFILE = (ROOT / "Dockerfile").read_text()
D = build.DRKIT


def _instructions(keyword: str) -> list[str]:
    """The arguments of every `keyword` instruction, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE)
    return [line.split(None, 1)[1] for line in text.splitlines() if line.split(None, 1)[:1] == [keyword]]


def _args() -> dict[str, str]:
    return dict(a.split("=", 1) for a in _instructions("ARG") if "=" in a)


def test_python_and_debian_release_agree() -> None:
    image = _args()["PYTHON_IMAGE"]
    match = re.fullmatch(r"python:(\d+\.\d+)-slim-(\w+)", image)
    assert match, image
    assert match.group(1) == D.python
    assert match.group(2) == D.base.suite
    assert "python3-minimal" in D.base.packages


def test_etcd_version_is_the_test_servers_pin() -> None:
    assert _args()["ETCD_VERSION"] == build.etcd_version()
    [copy] = [c for c in _instructions("COPY") if "etcdutl" in c]
    assert copy.split()[-1] == D.etcdutl


def test_user_venv_entrypoint_and_workdir_agree() -> None:
    assert _instructions("USER") == [D.user]
    [run] = [r for r in _instructions("RUN") if "useradd" in r]
    assert f"--uid {D.base.uid} --gid {D.base.gid}" in run
    assert f"groupadd --gid {D.base.gid} {D.base.user}" in run
    assert f"--home-dir {D.base.home} --shell {D.base.login_shell}" in run
    assert "chown 65532:65532 /var/cache/drkit" in run
    assert dict(D.base.directories) == {"var/cache/drkit": True, "etc/drkit": False}
    [build_run] = [r for r in _instructions("RUN") if "-m venv" in r]
    assert f"python -m venv {D.venv} " in build_run
    uninstalled = re.search(r"pip uninstall --yes ([\w ]+?) &&", build_run)
    assert uninstalled
    assert tuple(uninstalled.group(1).split()) == D.venv_uninstall
    assert json.loads(_instructions("ENTRYPOINT")[0]) == list(D.entrypoint)
    assert json.loads(_instructions("CMD")[0]) == list(D.cmd)
    assert _instructions("WORKDIR")[-1] == D.workdir


def test_environment_agrees() -> None:
    [env] = _instructions("ENV")[-1:]
    docker_env = set(shlex.split(env))
    # LANG=C.UTF-8 comes with python:3.11-slim; make image sets it explicitly
    assert docker_env | {"LANG=C.UTF-8"} == set(D.env)


def test_labels_agree() -> None:
    [label] = _instructions("LABEL")
    docker_labels = dict(item.split("=", 1) for item in shlex.split(label))
    assert docker_labels.pop("io.drkit.etcd-version") == "${ETCD_VERSION}"
    assert docker_labels == dict(D.labels)


def test_every_path_the_dockerfile_removes_is_removed_by_make_image() -> None:
    [run] = [r for r in _instructions("RUN") if "useradd" in r]
    removed: list[str] = []
    for command in run.split("&&"):
        words = command.split()
        if words[:2] in (["rm", "-rf"], ["rm", "-f"]):
            removed += words[2:]
    assert "/bin/sh" in removed
    assert "/usr/bin/apt*" in removed
    for path in removed:
        if path.startswith("/usr/local/bin/"):
            continue  # python.org's Python in /usr/local; Debian's has no pip, idle or 2to3 at all
        # bookworm merges /usr: /bin/x is /usr/bin/x; a glob stands for a name it matches
        merged = re.sub(r"^/(bin|sbin)/", r"usr/\1/", path).lstrip("/")
        sample = merged.replace("*", "x")
        assert D.base.removed(sample), f"Dockerfile removes {path}; make image keeps {sample}"
    assert "-perm /6000" in run  # setuid/setgid bits cleared: build.py clears them in every file
