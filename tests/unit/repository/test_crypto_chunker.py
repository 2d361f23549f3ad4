"""Crypto (slots, blob AEAD with id+type bound), chunking, packs and trees — pure logic."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyfastcdc import FastCDC

from dr_orchestrator.errors import IntegrityError
from dr_orchestrator.repository.chunker import data_segments, iter_chunks, make_chunker
from dr_orchestrator.repository.crypto import KdfParams, Keys, open_blob, unwrap_master, wrap_master
from dr_orchestrator.repository.format import ChunkerParams
from dr_orchestrator.repository.packer import BlobEncoder, Packer, parse_pack
from dr_orchestrator.repository.tree import Node, decode_tree, encode_tree

KDF = KdfParams(1, 1024, 1)
KEYS = Keys(b"k" * 32)


def test_slots_wrap_and_unwrap() -> None:
    # A password with spaces and punctuation cannot occur by chance in the slot's base64/JSON
    # (a short one like b"pw" does, now and then, inside the random salt).
    pw = b"correct horse: battery staple!"
    slot = wrap_master(b"m" * 32, pw, "repo1", KDF)
    assert b"m" * 32 not in slot and pw not in slot
    assert unwrap_master(slot, pw, "repo1") == b"m" * 32
    assert unwrap_master(slot, b"wrong", "repo1") is None
    assert unwrap_master(slot, pw, "other-repo") is None  # slot bound to its repository


def test_keys_derive_distinct_subkeys_and_hide_ids() -> None:
    other = Keys(b"j" * 32)
    assert len({KEYS.enc_key, KEYS.id_key, KEYS.master}) == 3
    assert KEYS.blob_id(b"same") != other.blob_id(b"same")
    assert KEYS.chunker_seed != other.chunker_seed
    assert "k" * 8 not in repr(KEYS)


@pytest.mark.parametrize("data", [b"", b"x", b"compressible " * 10000, os.urandom(100_000)])
def test_blob_round_trip_and_tamper(data: bytes) -> None:
    bid = KEYS.blob_id(data)
    view, ulen = BlobEncoder(KEYS).encode("D", bid, data)
    stored = bytes(view)
    if len(data) > 1000 and data[:4] == b"comp":
        assert len(stored) < len(data) // 5  # compressed
    assert open_blob(KEYS, stored, "D", bid, ulen, "t") == data
    with pytest.raises(IntegrityError):
        open_blob(KEYS, stored, "T", bid, ulen, "t")  # type bound in the AAD
    with pytest.raises(IntegrityError):
        open_blob(KEYS, stored, "D", KEYS.blob_id(b"other"), ulen, "t")  # id bound in the AAD
    flipped = bytearray(stored)
    flipped[-1] ^= 1
    with pytest.raises(IntegrityError):
        open_blob(KEYS, bytes(flipped), "D", bid, ulen, "t")


def test_incompressible_blob_is_stored_raw() -> None:
    data = os.urandom(1 << 20)
    stored, ulen = BlobEncoder(KEYS).encode("D", KEYS.blob_id(data), data)
    assert len(stored) == len(data) + 28 and ulen == len(data)


@settings(max_examples=30, deadline=None)
@given(st.binary(min_size=0, max_size=300_000), st.integers(min_value=1, max_value=70_000))
def test_streamed_chunks_equal_whole_buffer_chunks(data: bytes, block: int) -> None:
    cdc = FastCDC(4096, min_size=1024, max_size=16384, normalized_chunking=1, seed=7)
    pos = [0]

    def read(n: int) -> bytes:
        piece = data[pos[0]:pos[0] + n]
        pos[0] += len(piece)
        return piece

    streamed = [bytes(c) for c in iter_chunks(cdc, read, block=max(block, 16384))]
    whole = [bytes(c.data) for c in cdc.cut_buf(data)] if data else []
    assert streamed == whole
    assert b"".join(streamed) == data


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=2**32), st.integers(min_value=0, max_value=600_000),
       st.integers(min_value=1, max_value=200_000), st.booleans())
def test_streamed_chunks_equal_whole_buffer_chunks_any_read_sizes(seed: int, size: int, block: int,
                                                                   short: bool) -> None:
    """Blocks much larger than max_size (the carried chunk is joined with only max_size bytes of
    the next block) and short reads (pipes): the boundaries never move."""
    import random

    rnd = random.Random(seed)
    data = bytes(rnd.getrandbits(8) for _ in range(size // 4)) * 4  # some repetition, like real data
    cdc = FastCDC(4096, min_size=1024, max_size=16384, normalized_chunking=1, seed=seed)
    pos = [0]

    def read(n: int) -> bytes:
        if short:
            n = rnd.randint(1, n)
        piece = data[pos[0]:pos[0] + n]
        pos[0] += len(piece)
        return piece

    streamed = [bytes(c) for c in iter_chunks(cdc, read, block=block)]
    whole = [bytes(c.data) for c in cdc.cut_buf(data)] if data else []
    assert streamed == whole


def test_chunk_boundaries_depend_on_the_secret_seed() -> None:
    data = os.urandom(4 << 20)
    p = ChunkerParams(avg=64 << 10, min=16 << 10, max=256 << 10)
    a = [c.length for c in make_chunker(p, Keys(b"a" * 32).chunker_seed).cut_buf(data)]
    b = [c.length for c in make_chunker(p, Keys(b"b" * 32).chunker_seed).cut_buf(data)]
    assert a != b and sum(a) == sum(b) == len(data)


def test_data_segments_find_holes(tmp_path: Path) -> None:
    f = tmp_path / "sparse"
    with open(f, "wb") as fh:
        fh.truncate(8 << 20)
        fh.seek(2 << 20)
        fh.write(b"x" * 10)
    fd = os.open(f, os.O_RDONLY)
    try:
        segs = data_segments(fd, 8 << 20)
    finally:
        os.close(fd)
    assert len(segs) == 1 and segs[0][0] <= 2 << 20 < segs[0][1] <= 3 << 20


class _Sink:
    def __init__(self) -> None:
        self.packs: list[tuple[object, bytes]] = []

    def submit(self, pack: object, stored: bytes) -> None:
        self.packs.append((pack, stored))


def test_pack_header_round_trip_and_size_limit() -> None:
    sink = _Sink()
    packer = Packer(KEYS, "D", 100_000, sink)  # type: ignore[arg-type]
    enc = BlobEncoder(KEYS)
    blobs = [os.urandom(30_000) for _ in range(7)]
    for b in blobs:
        bid = KEYS.blob_id(b)
        view, ulen = enc.encode("D", bid, b)
        packer.add(bid, view, ulen)
    packer.flush()
    assert len(sink.packs) == 2
    got = []
    for pack, stored in sink.packs:
        entries = parse_pack(KEYS, stored, "p")
        assert entries == pack.entries  # type: ignore[attr-defined]
        for e in entries:
            got.append(open_blob(KEYS, stored[e.offset:e.offset + e.length], "D", e.blob_id, e.ulen, "p"))
    assert got == blobs


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "x\x00y"])
def test_unsafe_tree_names_refused(name: str) -> None:
    raw = encode_tree([Node(name=name, type="file")])
    with pytest.raises(IntegrityError):
        decode_tree(raw, "t")


def test_tree_round_trip_non_utf8_names() -> None:
    name = os.fsdecode(b"caf\xe9")
    nodes = [Node(name=name, type="file", content=["ab", 5]), Node(name="d", type="dir", subtree="cd")]
    back = decode_tree(encode_tree(nodes), "t")
    assert [n.name for n in back] == sorted([name, "d"])
    assert back[0].to_json() == nodes[0].to_json() or back[1].to_json() == nodes[0].to_json()
