/* libFuzzer target: the VHD reader. */
#define FUZZ_FORMAT "vhd"
#include "disk_reader.h"
