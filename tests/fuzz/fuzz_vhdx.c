/* libFuzzer target: the VHDX reader. */
#define FUZZ_FORMAT "vhdx"
#include "disk_reader.h"
