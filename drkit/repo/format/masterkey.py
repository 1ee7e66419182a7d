"""The repository's master key: what encrypts, identifies and signs everything in it.

A :class:`MasterKey` is a bundle of independent random 32-byte keys, one per purpose (no key is used
for two primitives):

* ``data_key``  -- AEAD key (``drkit.repo.format.crypto``) for the contents of every object,
* ``id_key``    -- keyed BLAKE3 key: content ids of plaintext chunks and blobs,
* ``sign_seed`` -- Ed25519 private seed: manifests are signed,
* ``index_key`` -- AEAD key for index objects (chunk id -> pack, size), shared with writers in
  write-only mode (docs/keys.md),
* ``box_key``   -- X25519 private key: opens session keys that write-only writers wrap to the repository.

The master key is never stored in plaintext: it is serialized only to be sealed inside a key slot
(``drkit.repo.format.keyslots``). ``repr``/``str`` show a fingerprint, never key bytes, and it refuses to be
pickled. Python cannot wipe ``bytes`` from memory; docs/keys.md says what that means.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, NoReturn

import blake3
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from drkit import native
from drkit.errors import VerificationFailed
from drkit.repo.format import crypto
from drkit.repo.format.crypto import KEY_SIZE

MASTER_KEY_VERSION: Final = 1
MASTER_KEY_BYTES: Final = 1 + 5 * KEY_SIZE
WRITER_KEY_VERSION: Final = 0x81
WRITER_KEY_BYTES: Final = 1 + 4 * KEY_SIZE
SIGNATURE_SIZE: Final = 64
SESSION_ID_BYTES: Final = 16
SESSION_WRAP_BYTES: Final = KEY_SIZE + crypto.OVERHEAD + KEY_SIZE
"""Size of a wrapped session key: ephemeral X25519 public key, then a sealed 32-byte key."""

_FINGERPRINT_CONTEXT: Final = "drkit 2026-11 master key fingerprint v1"
_DERIVE_INFO: Final = b"drkit/v1 derived "
_SESSION_INFO: Final = b"drkit/v1 session key wrap"
_SESSION_AAD: Final = b"drkit/v1 session key"


def _hkdf(ikm: bytes, *, info: bytes, salt: bytes | None = None) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=salt, info=info).derive(ikm)


def _fingerprint(verify_key: bytes) -> str:
    return blake3.blake3(verify_key, derive_key_context=_FINGERPRINT_CONTEXT).hexdigest()[:16]


def _public_sign_key(sign_seed: bytes) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(sign_seed).public_key().public_bytes_raw()


def _no_pickle(obj: object) -> NoReturn:
    raise TypeError(
        f"a {type(obj).__name__} is not pickled: key material leaves a process only in a key slot"
    )


def _check_lengths(obj: object, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(obj, name)
        if not isinstance(value, bytes) or len(value) != KEY_SIZE:
            raise ValueError(f"{type(obj).__name__}.{name} must be {KEY_SIZE} bytes")


_native = native.load("_seal")  # drkit/native/seal: many content ids in one call, without the GIL


def _content_ids(hasher: Any, id_key: bytes, datas: Sequence[bytes]) -> list[bytes]:
    """The content ids of ``datas`` in order: one call of the compiled module when it is there (a
    sealing thread's batch of small files), else one hash each."""
    if _native is not None:
        ids: list[bytes] = _native.content_ids(id_key, datas)
        return ids
    return [hasher.copy().update(d).digest() for d in datas]


def _id_hasher(id_key: bytes) -> Any:
    """A keyed BLAKE3 hasher with nothing hashed yet: each content id hashes a copy of it (half the
    time of keying a new hasher for a small blob: 1.4 against 2.6 us for a 337-byte tree)."""
    return blake3.blake3(key=id_key)


@dataclass(frozen=True, repr=False)
class MasterKey:
    """The repository's keys. Build with :meth:`generate` or :meth:`from_bytes` (out of a key slot)."""

    data_key: bytes
    id_key: bytes
    sign_seed: bytes
    # Added after the first contract: when omitted they are derived (HKDF-SHA256) from the three
    # above, so that a MasterKey built from three keys is complete. ``generate`` draws them at random.
    index_key: bytes = field(default=b"", compare=True)
    box_key: bytes = field(default=b"", compare=True)
    _data: crypto.Sealer = field(init=False, compare=False, hash=False)
    _index: crypto.Sealer = field(init=False, compare=False, hash=False)
    _ids: Any = field(init=False, compare=False, hash=False)  # ``_id_hasher``

    def __post_init__(self) -> None:
        _check_lengths(self, ("data_key", "id_key", "sign_seed"))
        object.__setattr__(self, "_ids", _id_hasher(self.id_key))
        base = self.data_key + self.id_key + self.sign_seed
        if not self.index_key:
            object.__setattr__(self, "index_key", _hkdf(base, info=_DERIVE_INFO + b"index key"))
        if not self.box_key:
            object.__setattr__(self, "box_key", _hkdf(base, info=_DERIVE_INFO + b"box key"))
        _check_lengths(self, ("index_key", "box_key"))
        object.__setattr__(self, "_data", crypto.Sealer(self.data_key))
        object.__setattr__(self, "_index", crypto.Sealer(self.index_key))

    @classmethod
    def generate(cls) -> MasterKey:
        """A fresh master key from the operating system's CSPRNG."""
        return cls(*(os.urandom(KEY_SIZE) for _ in range(5)))

    # -- what the data path uses -------------------------------------------------------------

    def content_id(self, data: bytes | memoryview) -> bytes:
        """The 32-byte keyed BLAKE3 of ``data``: equal plaintexts deduplicate, ids reveal nothing."""
        return self._ids.copy().update(data).digest()  # type: ignore[no-any-return]

    def content_ids(self, datas: Sequence[bytes]) -> list[bytes]:
        """:meth:`content_id` of each of ``datas``, in order."""
        return _content_ids(self._ids, self.id_key, datas)

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        """AEAD-seal ``plaintext`` with the data key (``drkit.repo.format.crypto`` layout)."""
        return self._data.seal(plaintext, aad)

    def open(self, blob: bytes | memoryview, aad: bytes) -> bytes:
        """Open a blob :meth:`seal` made with the same ``aad``; ``VerificationFailed`` otherwise."""
        return self._data.open(blob, aad)

    def seal_index(self, plaintext: bytes, aad: bytes) -> bytes:
        """Seal an index object with the index key (readable by write-only writers, for dedup)."""
        return self._index.seal(plaintext, aad)

    def open_index(self, blob: bytes | memoryview, aad: bytes) -> bytes:
        return self._index.open(blob, aad)

    def sign(self, message: bytes) -> bytes:
        """A 64-byte Ed25519 signature of ``message``."""
        return Ed25519PrivateKey.from_private_bytes(self.sign_seed).sign(message)

    def verify_key(self) -> bytes:
        """The raw 32-byte Ed25519 public key that checks :meth:`sign`'s signatures."""
        return _public_sign_key(self.sign_seed)

    def box_public(self) -> bytes:
        """The raw 32-byte X25519 public key writers wrap their session keys to."""
        return X25519PrivateKey.from_private_bytes(self.box_key).public_key().public_bytes_raw()

    def fingerprint(self) -> str:
        """16 hex digits identifying this key (a hash of the public verify key): safe to show."""
        return _fingerprint(self.verify_key())

    # -- write-only mode -----------------------------------------------------------------------

    def writer_key(self) -> WriterKey:
        """The subset of this key a write-only writer holds (it cannot open ``seal``'s blobs)."""
        return WriterKey(
            id_key=self.id_key,
            index_key=self.index_key,
            sign_seed=self.sign_seed,
            box_public=self.box_public(),
        )

    def open_session(self, wrapped: bytes, aad: bytes = b"") -> bytes:
        """Recover the session data key a writer made with :meth:`WriterKey.new_session`."""
        if len(wrapped) != SESSION_WRAP_BYTES:
            raise VerificationFailed(
                f"wrapped session key is {len(wrapped)} bytes, not {SESSION_WRAP_BYTES}: "
                "authentication failed"
            )
        ephemeral_public = wrapped[:KEY_SIZE]
        try:
            shared = X25519PrivateKey.from_private_bytes(self.box_key).exchange(
                X25519PublicKey.from_public_bytes(ephemeral_public)
            )
        except ValueError:  # an all-zero shared secret: a low-order point
            raise VerificationFailed("wrapped session key authentication failed") from None
        kek = _hkdf(shared, salt=ephemeral_public + self.box_public(), info=_SESSION_INFO)
        return crypto.open_sealed(kek, wrapped[KEY_SIZE:], _SESSION_AAD + aad)

    def session_sealer(self, session_id: str, wrapped: bytes) -> crypto.Sealer:
        """The sealer of a :class:`WriterSession`'s objects, from its id and stored wrapping."""
        return crypto.Sealer(self.open_session(wrapped, session_id.encode()))

    # -- serialization (only ever inside a key slot) ---------------------------------------------

    def to_bytes(self) -> bytes:
        """``0x01 || data_key || id_key || sign_seed || index_key || box_key`` (161 bytes)."""
        return (
            bytes([MASTER_KEY_VERSION])
            + self.data_key
            + self.id_key
            + self.sign_seed
            + self.index_key
            + self.box_key
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> MasterKey:
        if len(raw) != MASTER_KEY_BYTES or raw[0] != MASTER_KEY_VERSION:
            raise VerificationFailed("the key slot holds no valid master key")
        parts = [raw[1 + i * KEY_SIZE : 1 + (i + 1) * KEY_SIZE] for i in range(5)]
        return cls(*parts)

    def __repr__(self) -> str:
        return f"MasterKey(fingerprint={self.fingerprint()})"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        _no_pickle(self)


@dataclass(frozen=True, repr=False)
class WriterKey:
    """What a write-only writer holds: it can add backups (dedup, index, sign) but not read data.

    Each writer session draws a random session key (:meth:`new_session`) for the objects it writes
    and stores it wrapped to the repository's X25519 public key; only the master key opens it.
    """

    id_key: bytes
    index_key: bytes
    sign_seed: bytes
    box_public: bytes
    _index: crypto.Sealer = field(init=False, compare=False, hash=False)
    _ids: Any = field(init=False, compare=False, hash=False)  # ``_id_hasher``

    def __post_init__(self) -> None:
        _check_lengths(self, ("id_key", "index_key", "sign_seed", "box_public"))
        object.__setattr__(self, "_index", crypto.Sealer(self.index_key))
        object.__setattr__(self, "_ids", _id_hasher(self.id_key))

    def content_id(self, data: bytes | memoryview) -> bytes:
        return self._ids.copy().update(data).digest()  # type: ignore[no-any-return]

    def content_ids(self, datas: Sequence[bytes]) -> list[bytes]:
        return _content_ids(self._ids, self.id_key, datas)

    def seal_index(self, plaintext: bytes, aad: bytes) -> bytes:
        return self._index.seal(plaintext, aad)

    def open_index(self, blob: bytes | memoryview, aad: bytes) -> bytes:
        return self._index.open(blob, aad)

    def sign(self, message: bytes) -> bytes:
        return Ed25519PrivateKey.from_private_bytes(self.sign_seed).sign(message)

    def verify_key(self) -> bytes:
        return _public_sign_key(self.sign_seed)

    def fingerprint(self) -> str:
        """The fingerprint of the master key this writer key belongs to."""
        return _fingerprint(self.verify_key())

    def new_session(self, aad: bytes = b"") -> tuple[bytes, bytes]:
        """A fresh session data key and its wrapping (:data:`SESSION_WRAP_BYTES` bytes) to store.

        Wrapping: ephemeral-static X25519 with the repository's public key, HKDF-SHA256 (salt =
        ephemeral public || repository public), then ``crypto.seal`` of the session key. The writer
        forgets the ephemeral private key, so it cannot unwrap even its own sessions later.
        """
        session_key = os.urandom(KEY_SIZE)
        ephemeral = X25519PrivateKey.generate()
        ephemeral_public = ephemeral.public_key().public_bytes_raw()
        shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(self.box_public))
        kek = _hkdf(shared, salt=ephemeral_public + self.box_public, info=_SESSION_INFO)
        return session_key, ephemeral_public + crypto.seal(kek, session_key, _SESSION_AAD + aad)

    def start_session(self) -> WriterSession:
        """A session with a random id and data key, wrapped with ``aad`` = the id's ASCII bytes."""
        session_id = os.urandom(SESSION_ID_BYTES).hex()
        session_key, wrapped = self.new_session(session_id.encode())
        return WriterSession(
            writer=self, session_id=session_id, wrapped=wrapped, _sealer=crypto.Sealer(session_key)
        )

    def to_bytes(self) -> bytes:
        """``0x81 || id_key || index_key || sign_seed || box_public`` (129 bytes)."""
        return bytes([WRITER_KEY_VERSION]) + self.id_key + self.index_key + self.sign_seed + self.box_public

    @classmethod
    def from_bytes(cls, raw: bytes) -> WriterKey:
        if len(raw) != WRITER_KEY_BYTES or raw[0] != WRITER_KEY_VERSION:
            raise VerificationFailed("the key slot holds no valid writer key")
        parts = [raw[1 + i * KEY_SIZE : 1 + (i + 1) * KEY_SIZE] for i in range(4)]
        return cls(*parts)

    def __repr__(self) -> str:
        return f"WriterKey(fingerprint={self.fingerprint()})"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        _no_pickle(self)


@dataclass(frozen=True, repr=False)
class WriterSession:
    """One write-only session: seals what it writes with its own data key, which only the master key
    recovers (``MasterKey.session_sealer(session_id, wrapped)``). Store ``wrapped`` under the session
    id before any object that needs it, and record the session id with each object sealed here.

    It offers what writing needs -- ``content_id``, ``seal``, ``seal_index``/``open_index``, ``sign``,
    ``verify_key`` -- and, on purpose, no ``open`` of data blobs.
    """

    writer: WriterKey
    session_id: str
    wrapped: bytes
    _sealer: crypto.Sealer = field(compare=False)

    def content_id(self, data: bytes | memoryview) -> bytes:
        return self.writer.content_id(data)

    def content_ids(self, datas: Sequence[bytes]) -> list[bytes]:
        return self.writer.content_ids(datas)

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        return self._sealer.seal(plaintext, aad)

    def seal_blobs(
        self, level: int, min_compress: int, aad_prefix: bytes, ids: list[bytes], raws: list[bytes]
    ) -> list[bytes] | None:
        return self._sealer.seal_blobs(level, min_compress, aad_prefix, ids, raws)

    def seal_parts(self, parts: Sequence[bytes | memoryview], aad: bytes) -> bytearray:
        return self._sealer.seal_parts(parts, aad)

    def seal_index(self, plaintext: bytes, aad: bytes) -> bytes:
        return self.writer.seal_index(plaintext, aad)

    def open_index(self, blob: bytes | memoryview, aad: bytes) -> bytes:
        return self.writer.open_index(blob, aad)

    def sign(self, message: bytes) -> bytes:
        return self.writer.sign(message)

    def verify_key(self) -> bytes:
        return self.writer.verify_key()

    def fingerprint(self) -> str:
        return self.writer.fingerprint()

    def __repr__(self) -> str:
        return f"WriterSession({self.session_id}, fingerprint={self.fingerprint()})"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        _no_pickle(self)


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> None:
    """Check an Ed25519 signature; raise ``VerificationFailed`` when it does not match."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        raise VerificationFailed("signature verification failed") from None
