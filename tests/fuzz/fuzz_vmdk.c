/* libFuzzer target: the VMDK reader (hosted sparse and streamOptimized extents, descriptors). */
#define FUZZ_FORMAT "vmdk"
#include "tests/fuzz/disk_reader.h"
