# The layers of ARCHITECTURE.md hold: each folder includes only its own headers and
# those of the folders below it (scripts/layers.py), and the check sees a breach.
source "$(dirname "$0")/../lib.sh"
ROOT=$(cd "$HERE/.." && pwd)
LAYERS=$ROOT/scripts/layers.py

check "every include follows the layers" python3 "$LAYERS" "$ROOT"

mkdir -p "$T/tree/base" "$T/tree/formats/disk" "$T/tree/formats/bundle" "$T/tree/stray"
: >"$T/tree/formats/disk/disk.h"
: >"$T/tree/formats/bundle/bundle.h"
printf '#include "base/error.h"\n#include "formats/disk/disk.h"\n' >"$T/tree/base/low.c"
printf '#include "formats/bundle/bundle.h"\n' >"$T/tree/formats/disk/sibling.c"
printf '#include "disk.h"\n' >"$T/tree/formats/disk/relative.c"
: >"$T/tree/stray/x.c"
expect_exit 1 "a tree that breaks the layers fails the check" python3 "$LAYERS" "$T/tree"
check "the base including a format is named with its line" grep -q '^base/low.c:2: base/ may not include formats/disk/disk.h' "$T/out"
check "a sibling format including another is named" grep -q '^formats/disk/sibling.c:1: formats/disk/ may not' "$T/out"
check "an include not named from the top is named" grep -q '^formats/disk/relative.c:1: "disk.h" is not named from the top' "$T/out"
check "C files in a folder the table does not name are named" grep -q '^stray/: C files' "$T/out"
check "it counts four" grep -q '^4 include(s) against the layers' "$T/out"
finish
