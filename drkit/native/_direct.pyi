from collections.abc import Sequence

from _typeshed import ReadableBuffer, WriteableBuffer

def gather_pwrite(fd: int, parts: Sequence[ReadableBuffer], buf: WriteableBuffer, whole: int, /) -> int: ...
