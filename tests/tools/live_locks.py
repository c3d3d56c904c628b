#!/usr/bin/env python3
"""How many lock holders have not released: reads lock record keys (STORE.md section 5),
one a line or separated by blanks, on stdin, and prints the number of holders whose
newest record (the highest <n> of <host>-<pid>-<holder>-<n>[-released].json) is not
a release. A key of another shape counts as a holder of its own, never released."""
import re
import sys

holders = {}
for key in sys.stdin.read().split():
    m = re.match(r"(.*-[0-9a-f]{16})-([0-9]+)(-released)?\.json$", key.rsplit("/", 1)[1])
    holder, n, released = (m.group(1), int(m.group(2)), bool(m.group(3))) if m else (key, 0, False)
    holders[holder] = max(holders.get(holder, (-1, False)), (n, released))
print(sum(1 for n, released in holders.values() if not released))
