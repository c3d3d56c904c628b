#!/usr/bin/env python3
"""Writes a tiny BIOS-bootable raw disk image for boot tests.

    mkboot.py [-s SIZE] [--data MIB] [--seed S] [--force] OUT TAG
    mkboot.py --listing TAG

Sector 0 is an MBR whose boot code (hand-assembled 16-bit x86, below) sets up
COM1 (0x3F8) at 115200 baud 8N1, writes the marker line

    ENVPACK-BOOT-OK TAG\\r\\n

to it, and to the screen through BIOS int 0x10 teletype, then halts forever
(cli; hlt; jmp back to the hlt). Sector 0 also holds a disk signature (from the
tag) and one partition entry (type 0xDA, "non-FS data", 1 MiB to the end) so
that partitioning tools see an ordinary MBR disk, and ends with 0x55 0xAA.

The rest of the disk (SIZE, default 64M, a multiple of 512) stays a hole, but
for --data MIB: that many MiB of pseudo-random bytes (seeded by --seed, else by
the tag, so the same command gives the same disk) in pieces at scattered
sector-aligned offsets past the first MiB, the last piece ending at the end of
the disk, so that conversions of the disk have real content to carry.

TAG is 1-40 characters of [A-Za-z0-9._-]: each test boots a disk with its own
tag and knows it booted that disk. --listing prints the boot code as address,
bytes and instruction.
"""
import argparse
import hashlib
import os
import random
import re
import struct
import sys

MARKER = "ENVPACK-BOOT-OK"
LOAD = 0x7C00  # where the BIOS loads sector 0

# The boot code. Each entry is one instruction:
#   (bytes, "instruction ; why")            fixed machine code
#   ("label", NAME)                          a jump target
#   ("rel8", opcode, NAME, "instruction")    a short jump: opcode, then the
#                                            signed distance from the end of
#                                            the instruction to NAME
#   ("abs16", opcode, NAME, "instruction")   opcode, then NAME's address
#                                            (LOAD + its offset), little-endian
# NAME "msg" is the marker string placed right after the code.
CODE = [
    (b"\xEA\x05\x7C\x00\x00", "jmp 0x0000:0x7c05   ; some BIOSes enter at 07C0:0000: make CS 0, IP absolute"),
    (b"\xFA",                 "cli                 ; no interrupts while the stack moves"),
    (b"\x31\xC0",             "xor ax, ax"),
    (b"\x8E\xD8",             "mov ds, ax          ; DS = 0: lodsb reads the marker at its absolute address"),
    (b"\x8E\xC0",             "mov es, ax"),
    (b"\x8E\xD0",             "mov ss, ax"),
    (b"\xBC\x00\x7C",         "mov sp, 0x7c00      ; stack grows down below the boot sector"),
    (b"\xFB",                 "sti                 ; int 0x10 wants interrupts"),
    (b"\xFC",                 "cld                 ; lodsb counts up"),
    # COM1: 16550 UART at 0x3F8
    (b"\xBA\xF9\x03",         "mov dx, 0x3f9       ; IER"),
    (b"\x30\xC0",             "xor al, al"),
    (b"\xEE",                 "out dx, al          ; no UART interrupts, we poll"),
    (b"\xBA\xFB\x03",         "mov dx, 0x3fb       ; LCR"),
    (b"\xB0\x80",             "mov al, 0x80"),
    (b"\xEE",                 "out dx, al          ; DLAB = 1: 0x3f8/0x3f9 are the divisor latch"),
    (b"\xBA\xF8\x03",         "mov dx, 0x3f8       ; DLL"),
    (b"\xB0\x01",             "mov al, 1"),
    (b"\xEE",                 "out dx, al          ; divisor 1 = 115200 baud"),
    (b"\x42",                 "inc dx              ; 0x3f9, DLM"),
    (b"\x30\xC0",             "xor al, al"),
    (b"\xEE",                 "out dx, al          ; divisor high byte 0"),
    (b"\xBA\xFB\x03",         "mov dx, 0x3fb       ; LCR"),
    (b"\xB0\x03",             "mov al, 0x03"),
    (b"\xEE",                 "out dx, al          ; 8 data bits, no parity, 1 stop bit, DLAB = 0"),
    (b"\x4A",                 "dec dx              ; 0x3fa, FCR"),
    (b"\xB0\xC7",             "mov al, 0xc7"),
    (b"\xEE",                 "out dx, al          ; FIFOs on and cleared, 14-byte trigger"),
    (b"\xBA\xFC\x03",         "mov dx, 0x3fc       ; MCR"),
    (b"\xB0\x03",             "mov al, 0x03"),
    (b"\xEE",                 "out dx, al          ; DTR and RTS up"),
    ("abs16", b"\xBE", "msg", "mov si, msg         ; the marker line, NUL-terminated"),
    ("label", "next"),
    (b"\xAC",                 "lodsb               ; al = next character"),
    (b"\x84\xC0",             "test al, al"),
    ("rel8", b"\x74", "done", "jz done             ; NUL: the line is out"),
    (b"\x88\xC4",             "mov ah, al          ; keep the character, al is needed for in"),
    (b"\xBA\xFD\x03",         "mov dx, 0x3fd       ; LSR"),
    (b"\xB9\xFF\xFF",         "mov cx, 0xffff      ; wait at most 65535 polls (no UART: go on)"),
    ("label", "wait"),
    (b"\xEC",                 "in al, dx"),
    (b"\xA8\x20",             "test al, 0x20       ; THRE: the transmit register is empty"),
    ("rel8", b"\xE1", "wait", "loopz wait          ; --cx; again while not empty and cx != 0"),
    (b"\xBA\xF8\x03",         "mov dx, 0x3f8       ; THR"),
    (b"\x88\xE0",             "mov al, ah"),
    (b"\xEE",                 "out dx, al          ; the character to COM1"),
    (b"\xB4\x0E",             "mov ah, 0x0e        ; BIOS teletype output of al"),
    (b"\xBB\x07\x00",         "mov bx, 0x0007      ; page 0, light grey"),
    (b"\xCD\x10",             "int 0x10            ; the character to the screen"),
    ("rel8", b"\xEB", "next", "jmp next"),
    ("label", "done"),
    (b"\xFA",                 "cli"),
    ("label", "halt"),
    (b"\xF4",                 "hlt                 ; stop (only an NMI wakes us)"),
    ("rel8", b"\xEB", "halt", "jmp halt            ; and stop again"),
]


def _size(entry):
    if entry[0] == "label":
        return 0
    if entry[0] == "rel8":
        return len(entry[1]) + 1
    if entry[0] == "abs16":
        return len(entry[1]) + 2
    return len(entry[0])


def assemble(message):
    """Returns (code bytes with the message appended, listing lines)."""
    labels, off = {}, 0
    for e in CODE:  # pass 1: where each label is
        if e[0] == "label":
            labels[e[1]] = off
        off += _size(e)
    labels["msg"] = off
    out, listing, off = bytearray(), [], 0
    for e in CODE:  # pass 2: the bytes
        if e[0] == "label":
            listing.append("%s:" % e[1])
            continue
        if e[0] == "rel8":
            _, op, target, text = e
            rel = labels[target] - (off + len(op) + 1)
            if not -128 <= rel <= 127:
                raise SystemExit("mkboot: jump to %s out of range" % target)
            b = op + struct.pack("<b", rel)
        elif e[0] == "abs16":
            _, op, target, text = e
            b = op + struct.pack("<H", LOAD + labels[target])
        else:
            b, text = e
        listing.append("  %04x  %-16s %s" % (LOAD + off, b.hex(" "), text))
        out += b
        off += len(b)
    listing.append("msg:")
    listing.append("  %04x  db %r, 0" % (LOAD + off, message))
    out += message.encode("ascii") + b"\0"
    return bytes(out), listing


def boot_sector(tag, sectors):
    message = "%s %s\r\n" % (MARKER, tag)
    code, listing = assemble(message)
    if len(code) > 440:
        raise SystemExit("mkboot: boot code and marker take %d bytes, more than 440" % len(code))
    mbr = bytearray(512)
    mbr[: len(code)] = code
    # 440: disk signature, from the tag; 444: two zero bytes
    mbr[440:444] = hashlib.sha256(tag.encode()).digest()[:4]
    if sectors > 2048:  # one partition, 1 MiB to the end (LBA only: CHS fields saturated)
        count = min(sectors - 2048, 0xFFFFFFFF)
        mbr[446:462] = struct.pack("<B3sB3sII", 0x00, b"\xFE\xFF\xFF", 0xDA, b"\xFE\xFF\xFF", 2048, count)
    mbr[510:512] = b"\x55\xAA"
    return bytes(mbr), listing


def parse_size(text):
    m = re.fullmatch(r"([0-9]+)([KMGT]?)(i?B)?", text.strip(), re.IGNORECASE)
    if not m:
        raise argparse.ArgumentTypeError("bad size %r (e.g. 64M, 1G, 1048576)" % text)
    return int(m.group(1)) << (10 * " KMGT".index(m.group(2).upper() or " "))


def check_tag(text):
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,40}", text):
        raise argparse.ArgumentTypeError("tag %r: 1-40 characters of A-Z a-z 0-9 . _ -" % text)
    return text


def scatter(f, size, mib, seed):
    """Writes MIB MiB of seeded random bytes in pieces past the first MiB."""
    total = mib << 20
    room = size - (1 << 20)
    if total > room // 2:
        raise SystemExit("mkboot: %d MiB of data do not fit scattered in a %d-byte disk" % (mib, size))
    rng = random.Random(seed)
    first = True
    while total > 0:
        n = min(total, rng.randrange(64, 1025) * 1024)  # 64 KiB .. 1 MiB, whole sectors
        n -= n % 512
        if first:  # the last bytes of the disk, so its end is carried too
            off = size - n
            first = False
        else:
            off = (1 << 20) + rng.randrange(0, (room - n) // 512 + 1) * 512
        f.seek(off)
        f.write(rng.randbytes(n))
        total -= n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", nargs="?", help="the raw image to write")
    ap.add_argument("tag", type=check_tag, help="the tag the marker line carries")
    ap.add_argument("-s", "--size", type=parse_size, default=64 << 20, help="virtual size (default 64M)")
    ap.add_argument("--data", type=int, default=0, metavar="MIB", help="MiB of random data at scattered offsets")
    ap.add_argument("--seed", help="seed for --data (default: the tag)")
    ap.add_argument("--force", action="store_true", help="replace OUT when it exists")
    ap.add_argument("--listing", action="store_true", help="print the boot code and exit")
    a = ap.parse_args()
    if a.size < 512 or a.size % 512:
        ap.error("size %d is not a positive multiple of 512" % a.size)
    sector, listing = boot_sector(a.tag, a.size // 512)
    if a.listing:
        print("\n".join(listing))
        return 0
    if not a.out:
        ap.error("OUT is required")
    if a.data < 0:
        ap.error("--data must not be negative")
    try:
        f = open(a.out, "wb" if a.force else "xb")
    except FileExistsError:
        sys.exit("mkboot: %s exists (--force replaces it)" % a.out)
    with f:
        f.truncate(a.size)  # sparse: everything not written stays a hole
        f.write(sector)
        if a.data:
            scatter(f, a.size, a.data, a.seed if a.seed is not None else a.tag)
    return 0


if __name__ == "__main__":
    sys.exit(main())
