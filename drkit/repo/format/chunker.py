"""Content-defined chunking (FastCDC 2020, ``pyfastcdc``) with parameters recorded in the config."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Final

from pyfastcdc import FastCDC

from drkit.errors import ConfigError

KIB: Final = 1024
MIB: Final = 1024 * KIB


@dataclass(frozen=True)
class ChunkerParams:
    """FastCDC parameters. ``seed`` alters the gear table (random per repository)."""

    min_size: int = 512 * KIB
    avg_size: int = 1 * MIB
    max_size: int = 8 * MIB
    normalization: int = 1
    seed: int = 0
    algorithm: str = "fastcdc2020"

    def to_json(self) -> dict[str, Any]:
        return {
            "algorithm": self.algorithm,
            "min_size": self.min_size,
            "avg_size": self.avg_size,
            "max_size": self.max_size,
            "normalization": self.normalization,
            "seed": self.seed,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChunkerParams:
        params = cls(
            min_size=int(data["min_size"]),
            avg_size=int(data["avg_size"]),
            max_size=int(data["max_size"]),
            normalization=int(data["normalization"]),
            seed=int(data["seed"]),
            algorithm=str(data["algorithm"]),
        )
        params.check()
        return params

    def check(self) -> None:
        if self.algorithm != "fastcdc2020":
            raise ConfigError(f"unknown chunker {self.algorithm!r}", field="chunker")
        if not (64 <= self.min_size <= self.avg_size <= self.max_size):
            raise ConfigError("chunker sizes must satisfy 64 <= min <= avg <= max", field="chunker")
        if not (
            256 <= self.avg_size <= 4 * MIB and 1024 <= self.max_size <= 16 * MIB and self.min_size <= MIB
        ):
            raise ConfigError("chunker sizes out of FastCDC's range", field="chunker")
        if not (0 <= self.normalization <= 3) or not (0 <= self.seed < 2**63):
            raise ConfigError("chunker normalization or seed out of range", field="chunker")


class Chunker:
    """Cuts a stream into chunks. Not thread-safe: one per thread."""

    def __init__(self, params: ChunkerParams) -> None:
        params.check()
        self.params = params
        self._cdc = FastCDC(
            params.avg_size,
            min_size=params.min_size,
            max_size=params.max_size,
            normalized_chunking=params.normalization,  # type: ignore[arg-type]  # checked 0..3
            seed=params.seed,
        )

    @property
    def cdc(self) -> FastCDC:
        """The configured FastCDC (for :func:`drkit.repo.format.piececut.cut_pieces`)."""
        return self._cdc

    def chunks(self, stream: BinaryIO) -> Iterator[bytes]:
        """Yield the chunks of ``stream`` as independent ``bytes`` (safe to hand to other threads)."""
        for chunk in self._cdc.cut_stream(stream):
            yield bytes(chunk.data)

    def chunks_of(self, data: bytes) -> Iterator[bytes]:
        for chunk in self._cdc.cut_buf(data):
            yield bytes(chunk.data)
