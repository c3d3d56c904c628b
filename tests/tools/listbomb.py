#!/usr/bin/env python3
"""Crafts a bundle whose one disk keeps its extents in list chunks (BUNDLE.md,
extent_lists) that name far more chunks than the bundle is large: each list chunk
is one extent of one small data chunk named over and over, which zstd squeezes to
a few hundred bytes. tests/cases/t103-extent-lists.sh feeds it to inspect, verify
and restore, which must refuse it or stream it, never hold every reference at once.

  listbomb.py OUT [--lists N] [--refs R] [--chunk S] [--virtual V] [--key KEY]

  --lists N    list chunks (default 400)
  --refs R     chunk references in each list (default 59000, about 4 MiB of JSON)
  --chunk S    the size of the one data chunk, in bytes (default 1)
  --virtual V  the disk's virtual_size (default: just what the extents cover)
  --key KEY    sign the manifest with this PEM private key (default: unsigned)

With --refs 16384 --chunk 262144 the bundle keeps every rule a reader checks,
however many lists it has: a legitimate-looking disk that must be streamed.
"""
import argparse
import hashlib
import json
import os
import struct
import subprocess
import sys
import tarfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from craft import add, signature  # noqa: E402


def zstd(data):
    """data's zstd frame, its content size recorded and no checksum."""
    return subprocess.run(["zstd", "-q", "-c", "--no-check", "--stream-size=%d" % len(data)], input=data,
                          capture_output=True, check=True).stdout


def frame_blocks(frame):
    """The blocks of a frame zstd wrote without dictionary or checksum."""
    fhd = frame[4]
    assert frame[:4] == b"\x28\xb5\x2f\xfd" and fhd & 0x07 == 0, "unexpected zstd frame header"
    single = fhd & 0x20
    fcs = (1 if single else 0, 2, 4, 8)[fhd >> 6]
    return frame[5 + (0 if single else 1) + fcs:]


def zstd_prefixed(prefix, blocks, tail_len):
    """The frame of prefix + tail, tail's blocks (frame_blocks) reused after a raw block of
    prefix: compressing a 4 MiB list once instead of once a list. The tail's first block
    starts fresh (no tables or offsets from before), so it decodes the same after prefix."""
    assert 0 < len(prefix) < 1 << 17
    head = b"\x28\xb5\x2f\xfd" + bytes([0xA0]) + struct.pack("<I", len(prefix) + tail_len)
    return head + struct.pack("<I", len(prefix) << 3)[:3] + prefix + blocks


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    ap.add_argument("out")
    ap.add_argument("--lists", type=int, default=400)
    ap.add_argument("--refs", type=int, default=59000)
    ap.add_argument("--chunk", type=int, default=1)
    ap.add_argument("--virtual", type=int, default=0)
    ap.add_argument("--key")
    a = ap.parse_args()

    data = b"A" * a.chunk
    digest = hashlib.sha256(data).hexdigest()
    ref = json.dumps([digest, a.chunk], separators=(",", ":"))
    length = a.refs * a.chunk
    # one extent a list, each where the previous ended, so every list differs
    tail = (",".join([ref] * a.refs) + "]}]").encode()
    blocks = frame_blocks(zstd(tail))
    prefixes = [b'[{"offset":%d,"length":%d,"chunks":[' % (k * length, length) for k in range(a.lists)]
    lists = [(hashlib.sha256(p + tail).hexdigest(), len(p) + len(tail), zstd_prefixed(p, blocks, len(tail)))
             for p in prefixes]
    manifest = {
        "format": "envpack-bundle", "version": 1, "name": "bomb", "created": "2026-01-01T00:00:00Z",
        "tool": "listbomb.py",
        "chunking": {"algorithm": "fastcdc-gear-v1", "min": 262144, "avg": 1048576, "max": 4194304},
        "compression": "zstd",
        "components": [{"type": "disk", "name": "bomb", "source": "bomb.raw", "format": "raw",
                        "virtual_size": a.virtual or a.lists * length,
                        "extent_lists": [[d, size] for d, size, _ in lists]}],
    }
    body = json.dumps(manifest, separators=(",", ":")).encode()
    with tarfile.open(a.out, "w:", format=tarfile.PAX_FORMAT) as out:
        add(out, "chunks/%s.zst" % digest, zstd(data))
        for d, _, frame in lists:
            add(out, "chunks/%s.zst" % d, frame)
        add(out, "manifest.json", body)
        if a.key:
            add(out, "manifest.sig", signature(body, a.key))


if __name__ == "__main__":
    main()
