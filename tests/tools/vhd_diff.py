#!/usr/bin/env python3
"""Makes a differencing VHD, which qemu-img cannot write, from a dynamic one.

  vhd_diff.py PARENT.vhd PARENT.raw CHILD.vhd CHILD.raw OUT.vhd EXPECTED.raw

CHILD.vhd (a dynamic VHD of the parent's size, as qemu-img writes it) becomes
OUT.vhd: disk type 4, a W2ru parent locator naming PARENT.vhd relatively, and
the first half of the sector bitmap of its first block cleared, so those
sectors come from the parent. EXPECTED.raw is what OUT.vhd must read as,
computed from the two raw images by the VHD specification's rules."""
import struct
import sys

parent_vhd, parent_raw, child_vhd, child_raw, out_vhd, expected_raw = sys.argv[1:7]


def checksum(buf, field):
    b = bytearray(buf)
    b[field:field + 4] = b"\0\0\0\0"
    return (~sum(b)) & 0xFFFFFFFF


d = bytearray(open(child_vhd, "rb").read())
footer = bytearray(d[-512:])
hoff = struct.unpack_from(">Q", footer, 16)[0]
h = bytearray(d[hoff:hoff + 1024])
bat_off, entries, block = struct.unpack_from(">Q", h, 16)[0], struct.unpack_from(">I", h, 28)[0], struct.unpack_from(">I", h, 32)[0]
bat = [struct.unpack_from(">I", d, bat_off + 4 * i)[0] for i in range(entries)]
used = [i for i, e in enumerate(bat) if e != 0xFFFFFFFF]
assert used, "the child has no block"
first = bat[used[0]] * 512
sectors = block // 512
for s in range(sectors // 2):  # the first half of the first block comes from the parent
    d[first + s // 8] &= ~(0x80 >> (s % 8)) & 0xFF

name = "parent.vhd" if parent_vhd.endswith("parent.vhd") else parent_vhd.rsplit("/", 1)[-1]
loc = (".\\" + name).encode("utf-16-le")
loc_at = len(d) - 512
pfooter = open(parent_vhd, "rb").read()[-512:]
h[40:56] = pfooter[68:84]                      # parent unique id
h[64:64 + 2 * len(name)] = name.encode("utf-16-be")
struct.pack_into(">4sIIIQ", h, 576, b"W2ru", 512, len(loc), 0, loc_at)
struct.pack_into(">I", h, 36, checksum(h, 36))
struct.pack_into(">I", footer, 60, 4)         # differencing
struct.pack_into(">I", footer, 64, checksum(footer, 64))
d[hoff:hoff + 1024] = h
d[0:512] = footer
out = d[:loc_at] + loc.ljust(512, b"\0") + footer
open(out_vhd, "wb").write(out)

exp = bytearray(open(parent_raw, "rb").read())
child = open(child_raw, "rb").read()
for b in used:
    bm = d[bat[b] * 512:bat[b] * 512 + 512]
    for s in range(sectors):
        if bm[s // 8] & (0x80 >> (s % 8)):
            at = b * block + s * 512
            exp[at:at + 512] = child[at:at + 512]
open(expected_raw, "wb").write(exp)
