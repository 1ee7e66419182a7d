"""A repository's first objects, and opening them: the config, the key slots, the key they unlock.

:func:`create` writes a new master key's first slot, then the signed ``config`` (docs/format.md);
:func:`open_config` opens a slot with a credential, then reads the config by the version that the
key's signature accepts (an overwritten newest version falls back to the locked original). The
``Repository`` facade is built from what either returns.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from drkit.errors import ConfigError, RepositoryNotFound, VerificationFailed
from drkit.repo.format.chunker import ChunkerParams
from drkit.repo.format.keyring import KeyRing
from drkit.repo.format.keyslots import Credential
from drkit.repo.format.layout import CONFIG_KEY, KEYS_PREFIX
from drkit.repo.format.masterkey import MasterKey, WriterKey
from drkit.repo.format.objects import VerifiedReader
from drkit.repo.format.repoconfig import (
    DEFAULT_COMPRESSION,
    DEFAULT_PACK_SIZE,
    RepoConfig,
    check_config,
    compression_level,
    encode_config,
    parse_config,
)
from drkit.repo.format.retainuntil import retention_at
from drkit.repo.format.unlocking import Unlocking
from drkit.storage.base import LockMode, Store
from drkit.storage.errors import ObjectExists, ObjectNotFound


@dataclass(frozen=True)
class Opened:
    """What opening (or creating) a repository yields: the key, its slot, and the config read."""

    key: MasterKey | WriterKey
    slot_id: str
    config: RepoConfig
    config_version: str | None
    reader: VerifiedReader


def create(
    store: Store,
    credential: Credential,
    *,
    lock_mode: LockMode | None,
    retention: timedelta,
    clock: Callable[[], datetime],
    label: str = "initial",
    chunker: ChunkerParams | None = None,
    pack_size: int = DEFAULT_PACK_SIZE,
    compression: str = DEFAULT_COMPRESSION,
    scrypt_n: int | None = None,
) -> Opened:
    """Create a repository: a new master key, its first key slot, then the config."""
    if store.exists(CONFIG_KEY):
        raise ConfigError(f"a repository already exists at {store.url}", hint="open it instead of init")
    if any(True for _ in store.list(KEYS_PREFIX)):
        raise ConfigError(
            f"{store.url} holds key slots but no config: an earlier init was interrupted",
            hint="remove the keys/ objects, then init again",
        )
    if lock_mode is not None and not store.supports_object_lock:
        raise ConfigError(
            f"{store.url} does not support Object Lock",
            field="lock_mode",
            hint="enable Object Lock on the bucket",
        )
    if retention < timedelta(0):
        raise ConfigError("the retention period cannot be negative", field="retention")
    if pack_size < 4096:
        raise ConfigError("pack size must be at least 4 KiB", field="pack_size")
    key = MasterKey.generate()
    params = chunker or ChunkerParams(seed=secrets.randbits(62) + 1)
    params.check()
    cfg = RepoConfig(
        id=secrets.token_hex(16),
        created=clock().replace(microsecond=0),
        chunker=params,
        lock_mode=lock_mode,
        retention=retention,
        verify_key=key.verify_key(),
        pack_size=pack_size,
        compression=compression,
    )
    compression_level(compression)
    slot = KeyRing(store, scrypt_n=scrypt_n).add(key, credential, label)
    try:
        vid = store.put(
            CONFIG_KEY,
            encode_config(cfg, key),
            retention=retention_at(lock_mode, retention, clock()),
        )
    except ObjectExists:
        raise ConfigError(f"a repository already exists at {store.url} (created concurrently)") from None
    return Opened(key, slot.slot_id, cfg, vid, VerifiedReader(store))


def open_config(
    store: Store, credential: Credential, *, write_only: bool, unlocking: Unlocking | None = None
) -> Opened:
    """Open a slot with ``credential`` (a writer slot when ``write_only``), then the config:
    ``RepositoryNotFound`` without one, ``WrongKey`` if no slot opens. ``unlocking``: the slot already
    being opened on a thread (:class:`~drkit.repo.format.unlocking.Unlocking`, for this store,
    credential and ``write_only``); the config is read while it runs."""
    if unlocking is not None and (
        unlocking.store is not store
        or unlocking.credential != credential
        or unlocking.write_only != write_only
    ):
        raise ValueError("the unlocking was started for another store, credential or mode")
    try:
        newest = store.get(CONFIG_KEY)
    except ObjectNotFound:
        raise RepositoryNotFound(
            f"no drkit repository at {store.url}", hint="create one with `drkit repo init`"
        ) from None
    early: ConfigError | None = None
    try:
        parse_config(newest)
    except ConfigError as e:
        early = e  # maybe an overwritten config: decided after the key opens
    except VerificationFailed:
        pass
    key: MasterKey | WriterKey
    if unlocking is not None:
        key, slot_id = unlocking.result()
    elif write_only:
        key, slot_id = KeyRing(store).open_writer(credential)
    else:
        key, slot_id = KeyRing(store).open(credential)
    reader = VerifiedReader(store)

    def valid(data: bytes) -> bool:
        try:
            cfg, body, sig = parse_config(data)
            check_config(body, sig, cfg, key)
        except (ConfigError, VerificationFailed):
            return False
        return True

    try:
        data, vid = reader.read(CONFIG_KEY, valid)
    except VerificationFailed:
        if early is not None:
            raise early from None
        raise
    cfg, _body, _sig = parse_config(data)
    return Opened(key, slot_id, cfg, vid, reader)
