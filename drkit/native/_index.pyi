from collections.abc import Iterable
from typing import Any

def find(table: tuple[Any, int], records: list[tuple[str, Any]], key: tuple[int, bytes]) -> int: ...
def pack_ids(
    table: tuple[Any, int], records: list[tuple[str, Any]], keys: Iterable[tuple[int, bytes]]
) -> set[str]: ...
