"""A small, deterministic writer of OCI image layouts (no Docker engine, no registry).

An image is a list of layers (gzip-compressed tar files, each written once and cached by the caller)
and a config. `write_archive` assembles the OCI image layout (``oci-layout``, ``index.json``,
``blobs/sha256/...``) and tars it, the form that ``ctr images import`` and ``umoci`` read.

Everything that goes into a blob is a function of its inputs: entries sorted by path, times clamped to
a fixed epoch, owners numeric with empty names, gzip without a file name or time stamp. The same
inputs give the same digests on any machine.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import stat
import tarfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"
# containerd reads this one first when it imports an archive; both carry the full name.
CONTAINERD_NAME = "io.containerd.image.name"
GZIP_LEVEL = 6
CHUNK = 1 << 20


@dataclass(frozen=True)
class Layer:
    """A compressed layer blob on disk and what the config and manifest say about it."""

    path: Path
    digest: str  # sha256:... of the gzip blob
    diff_id: str  # sha256:... of the uncompressed tar
    size: int  # bytes of the gzip blob
    comment: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"digest": self.digest, "diff_id": self.diff_id, "size": self.size, "comment": self.comment}

    @classmethod
    def from_json(cls, path: Path, data: dict[str, Any]) -> Layer:
        return cls(path, str(data["digest"]), str(data["diff_id"]), int(data["size"]), str(data["comment"]))


class _HashingWriter(io.RawIOBase):
    """Counts and hashes what passes through to `target`."""

    def __init__(self, target: IO[bytes]) -> None:
        self.target = target
        self.sha = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        data = bytes(b)
        self.sha.update(data)
        self.size += len(data)
        self.target.write(data)
        return len(data)


class LayerWriter:
    """Writes a deterministic layer tar, gzip-compressed, computing diff_id and digest on the way.

    Use as a context manager; add entries in the order they should appear (callers sort them).
    """

    def __init__(self, path: Path, epoch: int, comment: str = "") -> None:
        self.path = path
        self.epoch = epoch
        self.comment = comment
        self.layer: Layer | None = None

    def __enter__(self) -> LayerWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("wb")
        self._blob = _HashingWriter(self._file)
        self._gzip = gzip.GzipFile(
            filename="", mode="wb", fileobj=self._blob, compresslevel=GZIP_LEVEL, mtime=0
        )
        self._tar_hash = _HashingWriter(self._gzip)  # type: ignore[arg-type]
        self._tar = tarfile.open(fileobj=self._tar_hash, mode="w|", format=tarfile.PAX_FORMAT)
        return self

    def add(self, info: tarfile.TarInfo, data: IO[bytes] | None = None) -> None:
        """Add one entry; its times are clamped to the epoch and its owner names dropped."""
        info.mtime = min(int(info.mtime), self.epoch)
        info.uname = info.gname = ""
        info.pax_headers = {}
        self._tar.addfile(info, data)

    def add_bytes(self, name: str, content: bytes, mode: int = 0o644, uid: int = 0, gid: int = 0) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(content)
        info.mode = mode
        info.uid, info.gid = uid, gid
        info.mtime = self.epoch
        self.add(info, io.BytesIO(content))

    def add_dir(self, name: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> None:
        info = tarfile.TarInfo(name)
        info.type = tarfile.DIRTYPE
        info.mode = mode
        info.uid, info.gid = uid, gid
        info.mtime = self.epoch
        self.add(info)

    def add_symlink(self, name: str, target: str) -> None:
        info = tarfile.TarInfo(name)
        info.type = tarfile.SYMTYPE
        info.linkname = target
        info.mode = 0o777
        info.mtime = self.epoch
        self.add(info)

    def add_tree(self, root: Path, prefix: str, keep: Callable[[str], bool] = lambda _: True) -> None:
        """Add the directory `root` as the layer path `prefix`, with its contents (recursively, sorted).

        Owners and modes are taken from the files; hard links inside the tree stay hard links.
        """
        seen: dict[tuple[int, int], str] = {}
        prefix = prefix.rstrip("/")
        for path, name in [(root, prefix), *_walk_sorted(root, prefix)]:
            if not keep(name):
                continue
            st = path.lstat()
            info = tarfile.TarInfo(name)
            info.mode = stat.S_IMODE(st.st_mode)
            info.uid, info.gid = st.st_uid, st.st_gid
            info.mtime = int(st.st_mtime)
            if stat.S_ISDIR(st.st_mode):
                info.type = tarfile.DIRTYPE
                self.add(info)
            elif stat.S_ISLNK(st.st_mode):
                info.type = tarfile.SYMTYPE
                info.linkname = str(path.readlink())
                self.add(info)
            elif stat.S_ISREG(st.st_mode):
                inode = (st.st_dev, st.st_ino)
                if st.st_nlink > 1 and inode in seen:
                    info.type = tarfile.LNKTYPE
                    info.linkname = seen[inode]
                    self.add(info)
                    continue
                seen[inode] = name
                info.size = st.st_size
                with path.open("rb") as f:
                    self.add(info, f)
            else:
                raise ValueError(f"{path}: not a file, directory or symlink; a layer holds none of those")

    def __exit__(self, *exc: object) -> None:
        self._tar.close()
        diff_id = "sha256:" + self._tar_hash.sha.hexdigest()
        self._gzip.close()
        self._file.close()
        if exc[0] is not None:
            self.path.unlink(missing_ok=True)
            return
        self.layer = Layer(
            self.path, "sha256:" + self._blob.sha.hexdigest(), diff_id, self._blob.size, self.comment
        )


def _walk_sorted(root: Path, prefix: str) -> Iterator[tuple[Path, str]]:
    for path in sorted(root.iterdir()):
        name = f"{prefix}/{path.name}"
        yield path, name
        if path.is_dir() and not path.is_symlink():
            yield from _walk_sorted(path, name)


@dataclass(frozen=True)
class ImageConfig:
    """The parts of an OCI image config that drkit's images set."""

    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    env: list[str] | None = None
    user: str = ""
    working_dir: str = ""
    labels: dict[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        config: dict[str, Any] = {}
        if self.user:
            config["User"] = self.user
        if self.env:
            config["Env"] = list(self.env)
        if self.entrypoint is not None:
            config["Entrypoint"] = list(self.entrypoint)
        if self.cmd is not None:
            config["Cmd"] = list(self.cmd)
        if self.working_dir:
            config["WorkingDir"] = self.working_dir
        if self.labels:
            config["Labels"] = dict(sorted(self.labels.items()))
        return config


def _canonical(data: dict[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def _descriptor(media_type: str, blob: bytes) -> dict[str, Any]:
    return {
        "mediaType": media_type,
        "digest": "sha256:" + hashlib.sha256(blob).hexdigest(),
        "size": len(blob),
    }


def _created(epoch: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_archive(
    out: Path,
    name: str,
    layers: Iterable[Layer],
    config: ImageConfig,
    *,
    epoch: int,
    architecture: str = "amd64",
) -> str:
    """Write the OCI image layout of one image, tarred, to `out`. Returns the manifest digest."""
    layers = list(layers)
    created = _created(epoch)
    config_blob = _canonical(
        {
            "architecture": architecture,
            "os": "linux",
            "created": created,
            "config": config.to_json(),
            "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
            "history": [{"created": created, "created_by": layer.comment} for layer in layers],
        }
    )
    manifest_blob = _canonical(
        {
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "config": _descriptor(MEDIA_CONFIG, config_blob),
            "layers": [{"mediaType": MEDIA_LAYER, "digest": lay.digest, "size": lay.size} for lay in layers],
        }
    )
    manifest = _descriptor(MEDIA_MANIFEST, manifest_blob)
    manifest["annotations"] = {REF_NAME: name, CONTAINERD_NAME: name}
    manifest["platform"] = {"architecture": architecture, "os": "linux"}
    index_blob = _canonical({"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": [manifest]})

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:

        def put(entry: str, data: bytes | None = None, path: Path | None = None, size: int = 0) -> None:
            info = tarfile.TarInfo(entry)
            info.mtime = epoch
            info.mode = 0o644
            if data is None and path is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            elif data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                assert path is not None
                info.size = size
                with path.open("rb") as f:
                    tar.addfile(info, f)

        put("blobs")
        put("blobs/sha256")
        blobs: dict[str, tuple[bytes | None, Path | None, int]] = {
            manifest["digest"]: (manifest_blob, None, len(manifest_blob)),
            _descriptor(MEDIA_CONFIG, config_blob)["digest"]: (config_blob, None, len(config_blob)),
        }
        for layer in layers:
            blobs[layer.digest] = (None, layer.path, layer.size)
        for digest in sorted(blobs):
            data, path, size = blobs[digest]
            put("blobs/sha256/" + digest.removeprefix("sha256:"), data, path, size)
        put("index.json", index_blob)
        put("oci-layout", _canonical({"imageLayoutVersion": "1.0.0"}))
    tmp.replace(out)
    return str(manifest["digest"])


def file_sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            sha.update(chunk)
    return sha.hexdigest()
