/* libFuzzer target: the qcow2 reader. */
#define FUZZ_FORMAT "qcow2"
#include "tests/fuzz/disk_reader.h"
