# Sourced by the bench scripts: where things are, and the shared realistic disk
# (../shared/bench/make-disk.sh) built or reused under $B/img (not with BENCH_NO_DISK=1).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)
SHARED=${SHARED:-$(cd "$here/../.." && pwd)/shared}
ENVPACK=${ENVPACK:-$here/../envpack}
RUNS=${RUNS:-3}
B=${BENCH_DIR:-/tmp/envpack-bench}
[ -x /usr/bin/time ] || { echo "bench: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
[ -n "${BENCH_NO_DISK:-}" ] || "$SHARED/bench/make-disk.sh" >/dev/null # image.sh needs no disk
