/* libFuzzer target: the docker-archive reader, both passes, on arbitrary bytes as a tar. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "formats/image/docker_save.h"
#include "tests/fuzz/scratch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int sink(void *ctx, size_t index, const void *data, size_t len, struct ep_error *err)
{
	(void)ctx;
	(void)index;
	(void)data;
	(void)len;
	(void)err;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[PATH_MAX];
	const char *tmp = getenv("TMPDIR"); /* tests/fuzz/run.sh gives each run its own */
	fuzz_path(path, sizeof path, "%s/envpack-fuzz-%d.tar", tmp && *tmp ? tmp : "/tmp", (int)getpid());
	fuzz_put(path, data, size);
	struct ep_darchive *a;
	struct ep_error err = { 0 };
	if (ep_darchive_scan(path, &a, &err) == 0) {
		ep_darchive_read(a, sink, NULL, &err);
		ep_darchive_free(a);
	}
	unlink(path);
	return 0;
}
