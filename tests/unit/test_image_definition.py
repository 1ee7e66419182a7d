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
import subprocess

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


def _dockerignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    """(excludes, pattern) of each .dockerignore line, as Docker reads them: `*` within one path
    element, `**` across them, a pattern that names a directory also names what is in it, the last
    line that matches decides, `!` lets through."""
    out = []
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keep = line.startswith("!")
        glob = line.removeprefix("!").strip("/")
        regex = re.escape(glob).replace(r"\*\*/", "(?:.*/)?").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        out.append((not keep, re.compile(f"(?:{regex})(?:/.*)?")))
    return out


def _context_lets_through(path: str) -> bool:
    excluded = False
    for excludes, pattern in _dockerignore_patterns():
        if pattern.fullmatch(path):
            excluded = excludes
    return not excluded


def test_every_file_the_dockerfile_copies_from_the_context_is_let_through() -> None:
    """`docker build` fails on a COPY of a file .dockerignore leaves out (setup.py once was), and a
    wheel built without a crate's Cargo.lock or sources would not build at all."""
    copies = [c.split() for c in _instructions("COPY") if not c.startswith("--from")]
    sources = [s for c in copies for s in c[:-1]]
    assert "setup.py" in sources
    tracked = subprocess.run(
        ["git", "ls-files", *sources], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert any(p.endswith("Cargo.lock") for p in tracked)
    left_out = [p for p in tracked if not _context_lets_through(p)]
    assert left_out == []
    assert not _context_lets_through("drkit/native/seal/target/release/lib_seal.so")
    assert not _context_lets_through("tests/unit/test_image_definition.py")


def test_the_rust_toolchain_image_is_of_the_same_debian_release() -> None:
    image = _args()["RUST_IMAGE"]
    match = re.fullmatch(r"rust:(\d+\.\d+)-slim-(\w+)", image)
    assert match, image
    assert match.group(2) == D.base.suite
