"""Every key of a master or writer key is exactly 32 bytes, checked when it is built (not at its first
use, which may be a backup later): a key of another length names the key type and the field. Found
as a gap by mutation testing (docs/testing.md, fourth round)."""

from __future__ import annotations

import re

import pytest

from drkit.repo.format.masterkey import MasterKey, WriterKey

K = bytes(range(32))


@pytest.mark.parametrize("field", ["data_key", "id_key", "sign_seed", "index_key", "box_key"])
@pytest.mark.parametrize("size", [31, 33])
def test_a_master_key_field_of_another_length_is_refused_by_name(field: str, size: int) -> None:
    keys = dict.fromkeys(("data_key", "id_key", "sign_seed", "index_key", "box_key"), K)
    keys[field] = bytes(size)
    with pytest.raises(ValueError, match=f"^{re.escape(f'MasterKey.{field} must be 32 bytes')}$"):
        MasterKey(**keys)


@pytest.mark.parametrize("field", ["id_key", "index_key", "sign_seed", "box_public"])
def test_a_writer_key_field_of_another_length_is_refused_by_name(field: str) -> None:
    keys = dict.fromkeys(("id_key", "index_key", "sign_seed", "box_public"), K)
    keys[field] = bytes(31)
    with pytest.raises(ValueError, match=f"^{re.escape(f'WriterKey.{field} must be 32 bytes')}$"):
        WriterKey(**keys)
