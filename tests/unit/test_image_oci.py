"""hack/image/oci.py: the OCI layout writer behind `make image` (deterministic layers and archives)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

from tests.imagebuild import build, oci

EPOCH = 1704067200


def _tree(root: Path) -> Path:
    (root / "app/bin").mkdir(parents=True)
    (root / "app/bin/tool").write_bytes(b"#!tool\n")
    (root / "app/bin/tool").chmod(0o755)
    (root / "app/data.txt").write_text("data\n")
    os.link(root / "app/data.txt", root / "app/same.txt")
    (root / "app/link").symlink_to("data.txt")
    os.utime(root / "app/data.txt", (EPOCH + 999, EPOCH + 999))
    return root / "app"


def _layer(tmp: Path, tree: Path, name: str) -> oci.Layer:
    with oci.LayerWriter(tmp / name, EPOCH, "test") as out:
        out.add_dir("opt")
        out.add_tree(tree, "opt/app")
    assert out.layer is not None
    return out.layer


def test_layer_is_deterministic_and_its_ids_are_its_hashes(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "src")
    first = _layer(tmp_path, tree, "one.tar.gz")
    os.utime(tree / "bin/tool", (EPOCH + 5, EPOCH + 5))  # a newer time is clamped: same layer
    second = _layer(tmp_path, tree, "two.tar.gz")
    blob = (tmp_path / "one.tar.gz").read_bytes()
    assert first.digest == second.digest
    assert blob == (tmp_path / "two.tar.gz").read_bytes()
    assert first.digest == "sha256:" + hashlib.sha256(blob).hexdigest()
    assert first.size == len(blob)
    assert first.diff_id == "sha256:" + hashlib.sha256(gzip.decompress(blob)).hexdigest()

    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        members = tar.getmembers()
        names = [m.name for m in members]
        assert names == [
            "opt",
            "opt/app",
            "opt/app/bin",
            "opt/app/bin/tool",
            "opt/app/data.txt",
            "opt/app/link",
            "opt/app/same.txt",
        ]
        by_name = {m.name: m for m in members}
        assert all(m.mtime <= EPOCH and m.uname == "" and m.gname == "" for m in members)
        assert by_name["opt/app/bin/tool"].mode == 0o755
        assert by_name["opt/app/link"].issym()
        assert by_name["opt/app/link"].linkname == "data.txt"
        assert by_name["opt/app/same.txt"].islnk()
        assert by_name["opt/app/same.txt"].linkname == "opt/app/data.txt"


def test_archive_is_an_oci_layout_naming_the_full_reference(tmp_path: Path) -> None:
    layer = _layer(tmp_path, _tree(tmp_path / "src"), "layer.tar.gz")
    config = oci.ImageConfig(entrypoint=["tool"], user="65532:65532", env=["PATH=/opt/app/bin"])
    out = tmp_path / "image.oci.tar"
    digest = oci.write_archive(out, "drkit.local/x:1", [layer], config, epoch=EPOCH)
    again = tmp_path / "again.oci.tar"
    assert oci.write_archive(again, "drkit.local/x:1", [layer], config, epoch=EPOCH) == digest
    assert out.read_bytes() == again.read_bytes()

    with tarfile.open(out) as tar:
        names = tar.getnames()
        assert {"oci-layout", "index.json", "blobs", "blobs/sha256"} <= set(names)

        def blob(d: str) -> bytes:
            f = tar.extractfile("blobs/sha256/" + d.removeprefix("sha256:"))
            assert f is not None
            data = f.read()
            assert hashlib.sha256(data).hexdigest() == d.removeprefix("sha256:")  # content-addressed
            return data

        layout = tar.extractfile("oci-layout")
        assert layout is not None
        assert json.load(layout) == {"imageLayoutVersion": "1.0.0"}
        index_file = tar.extractfile("index.json")
        assert index_file is not None
        index = json.load(index_file)
        [desc] = index["manifests"]
        assert desc["digest"] == digest
        assert desc["annotations"]["org.opencontainers.image.ref.name"] == "drkit.local/x:1"
        assert desc["annotations"]["io.containerd.image.name"] == "drkit.local/x:1"
        manifest = json.loads(blob(desc["digest"]))
        assert manifest["mediaType"] == oci.MEDIA_MANIFEST
        assert [lay["digest"] for lay in manifest["layers"]] == [layer.digest]
        assert manifest["layers"][0]["mediaType"] == oci.MEDIA_LAYER
        image_config = json.loads(blob(manifest["config"]["digest"]))
        assert image_config["rootfs"] == {"type": "layers", "diff_ids": [layer.diff_id]}
        assert image_config["config"] == {
            "Entrypoint": ["tool"],
            "User": "65532:65532",
            "Env": ["PATH=/opt/app/bin"],
        }
        assert image_config["os"] == "linux"
        assert blob(layer.digest) == layer.path.read_bytes()


def test_base_removes_shells_and_package_managers_and_keeps_the_rest() -> None:
    base = build.DRKIT.base
    for path in [
        "usr/bin/sh",
        "usr/bin/bash",
        "usr/bin/dash",
        "usr/bin/apt-get",
        "usr/lib/apt/methods/http",
        "usr/bin/dpkg",
        "usr/bin/dpkg-query",
        "usr/share/python-wheels/pip-23.0.1-py3-none-any.whl",
        "usr/bin/su",
        "usr/bin/perl",
        "var/log/apt/history.log",
        "dev/null",
    ]:
        assert base.removed(path), path
    for path in [
        "usr/bin/sha256sum",
        "usr/bin/python3.11",
        "var/lib/dpkg/status",  # image scanners read it
        "usr/lib/python3.11/shutil.py",
        "var/log",
        "dev",
        "etc/ssl/certs/ca-certificates.crt",
    ]:
        assert not base.removed(path), path


def test_cache_keeps_the_most_recently_used_layers_of_a_kind(tmp_path: Path) -> None:
    cache = build.Cache(tmp_path / "cache")
    tree = _tree(tmp_path / "src")
    for i in range(build.KEEP_LAYERS + 2):
        with cache.layer_writer("drkit-app", f"k{i}", "test") as out:
            out.add_tree(tree, "opt/app")
        assert out.layer is not None
        cache.keep_layer("drkit-app", f"k{i}", out.layer)
        stamp = EPOCH + i
        os.utime(tmp_path / f"cache/layers/drkit-app-k{i}.json", (stamp, stamp))
        if i == 0:
            with cache.layer_writer("testapp", "other", "test") as other:
                other.add_dir("tmp")
            assert other.layer is not None
            cache.keep_layer("testapp", "other", other.layer)
    assert cache.layer("drkit-app", "k0") is None  # the oldest went when the fourth came
    assert cache.layer("drkit-app", "k2") is not None  # used again: now the most recent
    with cache.layer_writer("drkit-app", "new", "test") as out:
        out.add_dir("opt")
    assert out.layer is not None
    cache.keep_layer("drkit-app", "new", out.layer)
    kept = sorted(p.name for p in (tmp_path / "cache/layers").iterdir())
    assert kept == [
        "drkit-app-k2.json",
        "drkit-app-k2.tar.gz",
        "drkit-app-k4.json",
        "drkit-app-k4.tar.gz",
        "drkit-app-new.json",
        "drkit-app-new.tar.gz",
        "testapp-other.json",  # another kind: not counted
        "testapp-other.tar.gz",
    ]
