#!/usr/bin/env python3
"""Crafts damaged and malicious bundles for tests/cases/t20-bad-input.sh.

  craft.py rebuild IN OUT [ops...]   copy IN's entries into a new tar, applying:
      drop:NAME            leave NAME out
      dup:NAME             write NAME twice
      replace:NAME=FILE    NAME's data from FILE
      file:NAME=FILE       add a regular file entry
      symlink:NAME=TARGET  add a symlink entry
      hardlink:NAME=TARGET add a hard link entry
  craft.py resign IN OUT KEY CODE    run CODE (Python, on the manifest as `m`), then
                                     re-sign it with KEY (PEM private key) via openssl
  craft.py hugesize OUT              a tar whose only entry declares 1 TiB of data
"""
import base64
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import tempfile


def entries(path):
    with tarfile.open(path, "r:") as t:
        return [(m, t.extractfile(m).read() if m.isfile() else b"") for m in t.getmembers()]


def add(out, name, data=b"", kind=tarfile.REGTYPE, target=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size, info.mode = kind, target, len(data), 0o644
    out.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def rebuild(src, dst, ops):
    extra = []
    drop, dup, replace = set(), set(), {}
    for op in ops:
        kind, _, arg = op.partition(":")
        name, _, value = arg.partition("=")
        if kind == "drop":
            drop.add(name)
        elif kind == "dup":
            dup.add(name)
        elif kind == "replace":
            replace[name] = open(value, "rb").read()
        else:
            extra.append((kind, name, value))
    with tarfile.open(dst, "w:", format=tarfile.PAX_FORMAT) as out:
        for kind, name, value in extra:  # first, so nothing after them is trusted
            if kind == "file":
                add(out, name, open(value, "rb").read())
            elif kind == "symlink":
                add(out, name, kind=tarfile.SYMTYPE, target=value)
            elif kind == "hardlink":
                add(out, name, kind=tarfile.LNKTYPE, target=value)
        for member, data in entries(src):
            if member.name in drop:
                continue
            data = replace.get(member.name, data)
            for _ in range(2 if member.name in dup else 1):
                add(out, member.name, data)


def signature(body, key):
    """manifest.sig over body, signed with KEY (PEM private key) via openssl."""
    with tempfile.NamedTemporaryFile() as f:
        f.write(body)
        f.flush()
        sig = subprocess.run(["openssl", "pkeyutl", "-sign", "-inkey", key, "-rawin", "-in", f.name],
                             check=True, capture_output=True).stdout
    raw = subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout[-32:]
    return json.dumps({"algorithm": "ed25519", "key_id": hashlib.sha256(raw).hexdigest()[:16],
                       "signature": base64.b64encode(sig).decode()}, separators=(",", ":")).encode()


def resign(src, dst, key, code):
    parts = entries(src)
    manifest = json.loads(dict((m.name, d) for m, d in parts)["manifest.json"])
    exec(code, {"m": manifest})
    body = json.dumps(manifest, separators=(",", ":")).encode()
    sigdoc = signature(body, key)
    with tarfile.open(dst, "w:", format=tarfile.PAX_FORMAT) as out:
        for member, data in parts:
            if member.name == "manifest.json":
                data = body
            elif member.name == "manifest.sig":
                data = sigdoc
            add(out, member.name, data)


def hugesize(dst):
    info = tarfile.TarInfo("manifest.json")
    info.size = 1 << 40
    with open(dst, "wb") as f:
        f.write(info.tobuf(format=tarfile.PAX_FORMAT))
        f.write(b"{}" + b"\0" * 510)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "rebuild":
        rebuild(sys.argv[2], sys.argv[3], sys.argv[4:])
    elif cmd == "resign":
        resign(*sys.argv[2:6])
    elif cmd == "hugesize":
        hugesize(sys.argv[2])
    else:
        sys.exit(__doc__)
