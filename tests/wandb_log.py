"""Reads the history rows out of an offline W&B run file (``run-<id>.wandb``).

W&B >= 0.19 no longer ships a Python reader for its transaction log, so the tests carry
this small one. The file is a 7-byte header (``:W&B``, magic 0xBEE1, version 0) followed by
LevelDB-style log blocks of 32 KiB; each chunk has a 7-byte header (CRC32C, little-endian
length, type 1 = full, 2 = first, 3 = middle, 4 = last) and carries protobuf ``Record``s.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

FILE_HEADER = struct.Struct("<4sHB")
CHUNK_HEADER = struct.Struct("<IHB")
BLOCK_BYTES = 32 * 1024
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def _payloads(data: bytes) -> list[bytes]:
    ident, magic, version = FILE_HEADER.unpack_from(data)
    assert (ident, magic, version) == (b":W&B", 0xBEE1, 0), "not a W&B transaction log"
    position, pending, payloads = FILE_HEADER.size, b"", []
    while position + CHUNK_HEADER.size <= len(data):
        left_in_block = BLOCK_BYTES - position % BLOCK_BYTES
        if left_in_block < CHUNK_HEADER.size:  # block trailer padding
            position += left_in_block
            continue
        _, length, kind = CHUNK_HEADER.unpack_from(data, position)
        position += CHUNK_HEADER.size
        chunk = data[position : position + length]
        position += length
        if kind == 0 and length == 0:
            continue
        pending = chunk if kind in (FULL, FIRST) else pending + chunk
        if kind in (FULL, LAST):
            payloads.append(pending)
            pending = b""
    return payloads


def history_rows(run_file: Path) -> list[dict[str, object]]:
    """Every logged history row of the run, keys joined with '/' as W&B shows them."""
    from wandb.proto import wandb_internal_pb2

    rows = []
    for payload in _payloads(run_file.read_bytes()):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(payload)
        if record.WhichOneof("record_type") == "history":
            rows.append(
                {
                    item.key or "/".join(item.nested_key): json.loads(item.value_json)
                    for item in record.history.item
                }
            )
    return rows
