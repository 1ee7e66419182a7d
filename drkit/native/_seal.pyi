# drkit/native/seal (Rust): a batch of small blobs hashed, compressed and sealed without the GIL.
from collections.abc import Sequence

def content_ids(key: bytes, datas: Sequence[bytes], /) -> list[bytes]: ...
def seal_blobs(
    key: bytes,
    level: int,
    min_compress: int,
    aad_prefix: bytes,
    ids: Sequence[bytes],
    datas: Sequence[bytes],
    /,
) -> list[bytes]: ...
