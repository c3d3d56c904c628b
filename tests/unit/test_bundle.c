#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/bundle/bundle.h"
#include "formats/disk/disk.h"
#include "tests/unit/unit.h"

TEST(bundle_write_then_locate)
{
	struct ep_error err = { 0 };
	struct ep_bundle_writer *w;
	uint8_t data[3][5000], digest[3][32];
	EXPECT(ep_bundle_writer_open(&w, "b.envpack", 1700000000, &err) == 0);
	for (int i = 0; i < 3; i++) {
		unit_fill(data[i], sizeof data[i] - (size_t)i * 700, (unsigned long)i + 1);
		ep_sha256(data[i], 32, digest[i]);
		EXPECT(ep_bundle_writer_add_chunk(w, digest[i], data[i], sizeof data[i] - (size_t)i * 700, &err) == 0);
	}
	EXPECT(ep_bundle_writer_add(w, "manifest.json", "{}", 2, &err) == 0);
	EXPECT(access("b.envpack", F_OK) != 0); /* nothing at the path before commit */
	EXPECT(ep_bundle_writer_commit(w, &err) == 0);
	struct ep_bundle *b;
	EXPECT(ep_bundle_open(&b, "b.envpack", &err) == 0);
	for (int i = 0; i < 3; i++) {
		uint64_t size;
		uint8_t back[5000];
		EXPECT(ep_bundle_chunk_size(b, digest[i], &size));
		EXPECT(size == sizeof data[i] - (size_t)i * 700);
		EXPECT(ep_bundle_read_chunk(b, digest[i], back, size, &err) == 0 && !memcmp(back, data[i], size));
	}
	size_t len;
	EXPECT(!strcmp(ep_bundle_manifest(b, &len), "{}") && len == 2);
	EXPECT(ep_bundle_signature(b, &len) == NULL);
	ep_bundle_close(b);
}

TEST(bundle_abort_leaves_nothing)
{
	struct ep_error err = { 0 };
	struct ep_bundle_writer *w;
	EXPECT(ep_bundle_writer_open(&w, "x.envpack", 0, &err) == 0);
	EXPECT(ep_bundle_writer_add(w, "manifest.json", "{}", 2, &err) == 0);
	ep_bundle_writer_abort(w);
	EXPECT(system("test -z \"$(ls -A)\"") == 0);
}

TEST(bundle_rejects_non_bundles)
{
	struct ep_error err = { 0 };
	struct ep_bundle *b;
	int fd = open("junk", O_WRONLY | O_CREAT, 0644);
	EXPECT(write(fd, "not a tar archive at all", 24) == 24);
	close(fd);
	EXPECT(ep_bundle_open(&b, "junk", &err) == EP_EINTEGRITY && strstr(err.msg, "junk"));
	EXPECT(ep_bundle_open(&b, "missing", &err) == EP_EINPUT && strstr(err.msg, "missing"));
}

TEST(raw_extents_and_sparse_writes)
{
	struct ep_error err = { 0 };
	struct ep_disk *d;
	uint8_t block[8192];
	memset(block, 0, sizeof block);
	unit_fill(block + 4096, 4096, 3);
	EXPECT(ep_disk_raw.create(&d, "out.raw", 64 << 20, NULL, &err) == 0);
	/* a zero block then a data block at 16 MiB: only the data block is allocated */
	EXPECT(d->ops->write(d, block, sizeof block, 16 << 20, &err) == 0);
	EXPECT(d->ops->write(d, block, 10, 63 << 20, &err) == 0);
	EXPECT(d->ops->write(d, block, 10, 64 << 20, &err) == EP_EINPUT);
	EXPECT(ep_disk_close(d, &err) == 0);
	EXPECT(ep_disk_open(&d, "out.raw", &(struct ep_disk_open_opts){ .format = "raw" }, &err) == 0);
	EXPECT(d->virtual_size == 64 << 20 && !strcmp(d->format->name, "raw"));
	struct ep_extent e;
	EXPECT(d->ops->next_extent(d, 0, &e, &err) == 1);
	EXPECT(e.off <= (16 << 20) + 4096 && e.off + e.len >= (16 << 20) + 8192 && e.off > (15 << 20));
	EXPECT(d->ops->next_extent(d, e.off + e.len, &e, &err) == 0);
	uint8_t back[4096];
	EXPECT(d->ops->read(d, back, 4096, (16 << 20) + 4096, &err) == 0 && !memcmp(back, block + 4096, 4096));
	ep_disk_close(d, NULL);
}
