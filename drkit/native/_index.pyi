from collections.abc import Iterable
from typing import Any

def find(
    table: tuple[Any, int],
    records: list[tuple[str, Any]],
    key: tuple[int, bytes],
    spilled: list[Any] | None = ...,
) -> int: ...
def pack_ids(
    table: tuple[Any, int],
    records: list[tuple[str, Any]],
    keys: Iterable[tuple[int, bytes]],
    missing: list[tuple[int, bytes]] | None = ...,
) -> set[str]: ...
def insert(table: tuple[Any, int], records: list[tuple[str, Any]], number: int) -> int: ...
def rehash(table: tuple[Any, int], records: list[tuple[str, Any]], new_table: tuple[Any, int]) -> None: ...
