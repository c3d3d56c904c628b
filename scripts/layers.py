#!/usr/bin/env python3
"""The layer rule of ARCHITECTURE.md, checked: a C file may include headers of its own
folder and of folders on a lower layer, nothing else. Prints each include that breaks
the rule as FILE:LINE and exits 1; exits 0 when there is none.
Usage: scripts/layers.py [ROOT]"""
import os
import re
import sys

# Which folders each folder may include besides itself: the table in ARCHITECTURE.md.
# Each row names only rows above it, so no two folders can include each other.
FORMATS = ['formats/disk', 'formats/bundle', 'formats/vm', 'formats/image', 'formats/iac', 'formats/store']
ALLOWED = {
    'base': [],
    'cloud': ['base'],
    'formats/disk': ['base'],
    'formats/bundle': ['base'],
    'formats/vm': ['base', 'formats/disk', 'formats/bundle'],
    'formats/image': ['base', 'formats/bundle'],
    'formats/iac': ['base', 'formats/bundle'],
    'formats/store': ['base', 'cloud', 'formats/bundle'],
    'sources': ['base', 'cloud'] + FORMATS,
    'verify': ['base', 'cloud'] + FORMATS,
    'packer': ['base', 'cloud'] + FORMATS + ['sources', 'verify'],
    'serve': ['base', 'cloud'] + FORMATS + ['verify'],
    'targets': ['base', 'cloud'] + FORMATS + ['verify', 'serve'],
    'drill': ['base', 'cloud'] + FORMATS + ['verify', 'serve', 'targets'],
    'cli': ['base', 'cloud'] + FORMATS + ['sources', 'verify', 'packer', 'serve', 'targets', 'drill'],
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def folder_of(path):
    d = os.path.dirname(path)
    return d if d in ALLOWED else None


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else '.'
    bad = 0
    order = list(ALLOWED)
    for i, folder in enumerate(order):
        for below in ALLOWED[folder]:
            if order.index(below) >= i:
                print(f'the table lets {folder}/ include {below}/, which is not above it: a loop could form')
                bad += 1
    for folder in sorted(ALLOWED):
        top = os.path.join(root, folder)
        if not os.path.isdir(top):
            continue
        for name in sorted(os.listdir(top)):
            if not name.endswith(('.c', '.h')):
                continue
            path = os.path.join(folder, name)
            with open(os.path.join(root, path), errors='replace') as f:
                for n, line in enumerate(f, 1):
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    target = folder_of(m.group(1))
                    if target is None:
                        if '/' not in m.group(1) or not os.path.exists(os.path.join(root, m.group(1))):
                            print(f'{path}:{n}: "{m.group(1)}" is not named from the top (folder/file.h)')
                            bad += 1
                        continue
                    if target != folder and target not in ALLOWED[folder]:
                        print(f'{path}:{n}: {folder}/ may not include {m.group(1)} '
                              f'(a layer may include only those below it: ARCHITECTURE.md)')
                        bad += 1
    for d, _, files in os.walk(root):
        rel = os.path.relpath(d, root)
        if rel.split(os.sep)[0] in ('tests', 'bench', 'build', '.git', 'node_modules'):
            continue
        if rel not in ALLOWED and any(f.endswith(('.c', '.h')) for f in files):
            print(f'{rel}/: C files in a folder the layer table does not name')
            bad += 1
    print(f'{bad} include(s) against the layers')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
