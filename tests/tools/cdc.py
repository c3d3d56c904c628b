#!/usr/bin/env python3
"""An independent implementation of formats/BUNDLE.md section 5 (fastcdc-gear-v1),
written from the spec, to check that envpack cuts chunks as documented.
usage: cdc.py FILE  -> one line per chunk: "<sha256-hex> <size>"."""
import hashlib
import sys

MASK64 = (1 << 64) - 1
MIN, AVG, MAX = 262144, 1048576, 4194304
STRICT = MASK64 ^ ((1 << (64 - 22)) - 1)  # top 22 bits
LOOSE = MASK64 ^ ((1 << (64 - 18)) - 1)   # top 18 bits


def gear_table():
    x, table = 0x656E767061636B31, []
    for _ in range(256):
        x = (x + 0x9E3779B97F4A7C15) & MASK64
        z = x
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        table.append(z ^ (z >> 31))
    return table


GEAR = gear_table()


def cut(p, start, n):
    if n <= MIN:
        return n
    limit, h, i = min(n, MAX), 0, MIN
    normal = min(limit, AVG)
    while i < normal:
        h = ((h << 1) + GEAR[p[start + i]]) & MASK64
        if not h & STRICT:
            return i + 1
        i += 1
    while i < limit:
        h = ((h << 1) + GEAR[p[start + i]]) & MASK64
        if not h & LOOSE:
            return i + 1
        i += 1
    return limit


def main():
    data = open(sys.argv[1], "rb").read()
    pos = 0
    while pos < len(data):
        n = cut(data, pos, len(data) - pos)
        print(hashlib.sha256(data[pos:pos + n]).hexdigest(), n)
        pos += n


if __name__ == "__main__":
    main()
