from typing import Literal

_Dir = tuple[int, int, int, int, bool, bytes | None]  # mode, uid, gid, mtime_ns, meta_same, parent subtree
Scanned = tuple[
    Literal[2],
    list[bytes],
    list[tuple[int, _Dir | None, int]],
    list[tuple[object, bytes]],
    int,
    int,
    int,
    int,
    bytearray,
]

Result = tuple[Literal[0]] | tuple[Literal[1], list[int], list[int]] | Scanned

class Scanner:
    def __init__(
        self, changed_before_ns: int, strict_device: bool, xattrs: bool, data_type: object
    ) -> None: ...
    def scan(self, path: bytes, tree: bytes) -> Result: ...
    def set_user(self, uid: int, name: bytes | None) -> None: ...
    def set_group(self, gid: int, name: bytes | None) -> None: ...
    def map_device(self, old: int, new: int) -> None: ...

def splice(parent: bytes, keep: bytes | bytearray, new: bytes) -> bytes | None: ...
