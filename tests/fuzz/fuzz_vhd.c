/* libFuzzer target: the VHD reader. */
#define FUZZ_FORMAT "vhd"
#include "tests/fuzz/disk_reader.h"
