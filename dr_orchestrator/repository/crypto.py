"""Key derivation, password slots and authenticated encryption of blobs and documents.

The master secret never leaves memory unwrapped; sub-keys are derived from it with
BLAKE3's key-derivation mode so one secret yields the encryption key, the blob-id
key and the chunker seed (docs/repository-format.md §2–3).
"""

from __future__ import annotations

import base64
import getpass
import json
import os
import secrets
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import blake3
import zstandard
from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from dr_orchestrator.errors import BadInput, IntegrityError
from dr_orchestrator.repository.format import BLOB_TYPE_BYTE, NONCE_LEN, TAG_LEN, utc_iso


@dataclass(frozen=True)
class KdfParams:
    """Argon2id cost: OWASP's recommended m=46 MiB, t=1, p=1 (~0.1 s; paid once per command)."""

    time_cost: int = 1
    memory_kib: int = 47104
    parallelism: int = 1


def _kdf(password: bytes, slot: dict[str, Any]) -> bytes:
    salt = base64.b64decode(slot["salt"])
    if slot["kdf"] == "argon2id":
        return hash_secret_raw(password, salt, time_cost=int(slot["time_cost"]),
                               memory_cost=int(slot["memory_kib"]), parallelism=int(slot["parallelism"]),
                               hash_len=32, type=Type.ID)
    if slot["kdf"] == "scrypt":
        return Scrypt(salt=salt, length=32, n=int(slot["n"]), r=int(slot["r"]), p=int(slot["p"])).derive(password)
    raise BadInput(f"unknown key derivation {slot['kdf']!r} in a key slot", "upgrade dro")


def _slot_aad(repo_id: str) -> bytes:
    return b"dro v1 key slot " + repo_id.encode()


def wrap_master(master: bytes, password: bytes, repo_id: str, kdf: KdfParams | None = None) -> bytes:
    """A new key slot (JSON bytes) holding `master` wrapped under `password`."""
    kdf = kdf or KdfParams()
    slot: dict[str, Any] = {"version": 1, "kdf": "argon2id", "time_cost": kdf.time_cost,
                            "memory_kib": kdf.memory_kib, "parallelism": kdf.parallelism,
                            "salt": base64.b64encode(secrets.token_bytes(16)).decode()}
    kek = _kdf(password, slot)
    nonce = secrets.token_bytes(NONCE_LEN)
    slot["nonce"] = base64.b64encode(nonce).decode()
    slot["wrapped"] = base64.b64encode(AESGCM(kek).encrypt(nonce, master, _slot_aad(repo_id))).decode()
    slot["created"] = utc_iso(datetime.now(UTC))
    slot["hostname"] = socket.gethostname()
    slot["username"] = _username()
    return json.dumps(slot, indent=2).encode()


def unwrap_master(raw_slot: bytes, password: bytes, repo_id: str) -> bytes | None:
    """The master secret if `password` opens this slot, else None."""
    try:
        slot = json.loads(raw_slot)
        kek = _kdf(password, slot)
        return AESGCM(kek).decrypt(base64.b64decode(slot["nonce"]), base64.b64decode(slot["wrapped"]),
                                   _slot_aad(repo_id))
    except InvalidTag:
        return None
    except (ValueError, KeyError, TypeError):
        return None


def slot_info(raw_slot: bytes) -> dict[str, Any]:
    """Public fields of a slot (no salt, no wrapped key)."""
    slot = json.loads(raw_slot)
    return {k: slot.get(k) for k in ("kdf", "created", "hostname", "username")}


def _username() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        return str(os.getuid())


@dataclass
class Keys:
    """Sub-keys of one repository, derived from its master secret."""

    master: bytes = field(repr=False)
    enc_key: bytes = field(init=False, repr=False)
    id_key: bytes = field(init=False, repr=False)
    chunker_seed: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.enc_key = blake3.blake3(self.master, derive_key_context="dro v1 blob encryption").digest()
        self.id_key = blake3.blake3(self.master, derive_key_context="dro v1 blob id").digest()
        seed = blake3.blake3(self.master, derive_key_context="dro v1 chunker seed").digest()
        self.chunker_seed = int.from_bytes(seed[:8], "little")
        self.aead = AESGCM(self.enc_key)

    def blob_id(self, data: bytes | memoryview) -> bytes:
        return blake3.blake3(data, key=self.id_key).digest()


def blob_aad(blob_type: str, blob_id: bytes) -> bytes:
    return b"dro1" + bytes((BLOB_TYPE_BYTE[blob_type],)) + blob_id


def open_blob(keys: Keys, stored: bytes | memoryview, blob_type: str, blob_id: bytes, ulen: int,
              what: str) -> bytes:
    """Decrypt, decompress and verify one stored blob; IntegrityError names `what` on failure."""
    if len(stored) < NONCE_LEN + TAG_LEN:
        raise IntegrityError(f"{what}: blob {blob_id.hex()[:16]} is truncated")
    try:
        plain = keys.aead.decrypt(stored[:NONCE_LEN], stored[NONCE_LEN:], blob_aad(blob_type, blob_id))
    except InvalidTag as exc:
        raise IntegrityError(f"{what}: blob {blob_id.hex()[:16]} fails authentication (damaged or tampered)",
                             "run `dro verify --read-data`; restore the object from a replica") from exc
    if len(plain) < ulen:
        try:
            plain = zstandard.ZstdDecompressor().decompress(plain, max_output_size=ulen)
        except zstandard.ZstdError as exc:
            raise IntegrityError(f"{what}: blob {blob_id.hex()[:16]} does not decompress") from exc
    if len(plain) != ulen or keys.blob_id(plain) != blob_id:
        raise IntegrityError(f"{what}: blob {blob_id.hex()[:16]} content does not match its id")
    return plain


def seal_doc(keys: Keys, kind: str, doc: Any) -> bytes:
    """Encrypted, compressed JSON document (index, snapshot)."""
    raw = zstandard.ZstdCompressor(level=3).compress(json.dumps(doc, separators=(",", ":")).encode())
    nonce = secrets.token_bytes(NONCE_LEN)
    return nonce + keys.aead.encrypt(nonce, raw, b"dro1 " + kind.encode())


def open_doc(keys: Keys, kind: str, stored: bytes, what: str) -> Any:
    try:
        raw = keys.aead.decrypt(stored[:NONCE_LEN], stored[NONCE_LEN:], b"dro1 " + kind.encode())
        return json.loads(zstandard.ZstdDecompressor().decompress(raw, max_output_size=1 << 31))
    except (InvalidTag, ValueError, zstandard.ZstdError) as exc:
        raise IntegrityError(f"{what} is damaged or not a {kind} of this repository",
                             "run `dro verify`; restore the object from a replica") from exc


def object_name(stored: bytes | bytearray | memoryview) -> str:
    """Contract: data/, index/, snapshots/ objects are named by unkeyed BLAKE3 of their bytes."""
    return blake3.blake3(stored, max_threads=blake3.blake3.AUTO if len(stored) > (4 << 20) else 1).hexdigest()
