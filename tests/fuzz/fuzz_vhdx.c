/* libFuzzer target: the VHDX reader. */
#define FUZZ_FORMAT "vhdx"
#include "tests/fuzz/disk_reader.h"
