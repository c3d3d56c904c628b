#include "formats/vm/ova.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "base/util.h"
#include "formats/vm/ovf.h"

#define MAX_MEMBERS 128
#define MF_MAX ((size_t)64 << 10)

struct member {
	char name[130];
	char digest[EP_DIGEST_HEX * 2]; /* sha256 (or sha1) hex of what was unpacked */
	bool sha1;
};

/* Writes the current member into dirfd/name, hashing it on the way. */
static int unpack(struct archive *a, int dirfd, struct member *m, const char *ova, struct ep_error *err)
{
	int fd = openat(dirfd, m->name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return ep_fail_errno(err, EP_EINPUT, "ova: '%s': member '%s' cannot be unpacked (twice in the tar?)", ova, m->name);
	EVP_MD_CTX *sha256 = EVP_MD_CTX_new(), *sha1 = EVP_MD_CTX_new();
	int rc = sha256 && sha1 && EVP_DigestInit_ex(sha256, EVP_sha256(), NULL) && EVP_DigestInit_ex(sha1, EVP_sha1(), NULL)
			 ? 0
			 : ep_oom(err);
	const void *buf;
	size_t len;
	la_int64_t off;
	int r;
	while (!rc && (r = archive_read_data_block(a, &buf, &len, &off)) == ARCHIVE_OK) {
		EVP_DigestUpdate(sha256, buf, len);
		EVP_DigestUpdate(sha1, buf, len);
		rc = ep_pwrite_full(fd, buf, len, (uint64_t)off, m->name, err);
	}
	if (!rc && r != ARCHIVE_EOF)
		rc = ep_fail(err, EP_EINPUT, "ova: '%s': %s", ova, archive_error_string(a));
	uint8_t d[EP_DIGEST_LEN];
	unsigned n;
	if (!rc) {
		EVP_DigestFinal_ex(sha256, d, &n);
		ep_hex(d, n, m->digest);
		EVP_DigestFinal_ex(sha1, d, &n);
		ep_hex(d, n, m->digest + EP_DIGEST_HEX);
	}
	EVP_MD_CTX_free(sha256);
	EVP_MD_CTX_free(sha1);
	close(fd);
	return rc;
}

/* Every "SHA256(NAME)= HEX" (or SHA1) line of the manifest must match what was unpacked. */
static int check_manifest(const char *dir, const char *mf, struct member *ms, size_t n, const char *ova,
			  struct ep_error *err)
{
	char *text = NULL, path[PATH_MAX];
	size_t len;
	int rc = ep_path_format(path, sizeof path, err, "%s/%s", dir, mf);
	if (!rc)
		rc = ep_read_file(path, MF_MAX, &text, &len, err);
	for (char *line = text, *next; !rc && line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		char algo[8], name[130], hex[130];
		if (sscanf(line, "%7[A-Z0-9](%129[^)])= %129s", algo, name, hex) != 3)
			continue;
		bool sha1 = !strcmp(algo, "SHA1");
		size_t k = 0;
		while (k < n && strcmp(ms[k].name, name))
			k++;
		for (char *p = hex; *p; p++)
			*p = (char)(*p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
		if (k == n)
			rc = ep_fail(err, EP_EINPUT, "ova: '%s': its manifest names '%s', which it lacks", ova, name);
		else if ((!sha1 && strcmp(algo, "SHA256")) || strcmp(hex, ms[k].digest + (sha1 ? EP_DIGEST_HEX : 0)))
			rc = ep_fail(err, EP_EINTEGRITY, "ova: '%s': member '%s' does not match its %s digest in the manifest", ova,
				     name, algo);
	}
	free(text);
	return rc;
}

int ep_ova_read(const char *ova, char **dir, struct ep_vm_source **out, struct ep_error *err)
{
	const char *tmp = getenv("TMPDIR");
	if (asprintf(dir, "%s/envpack-ova-XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0)
		return ep_oom(err);
	if (!mkdtemp(*dir)) {
		int rc = ep_fail_errno(err, EP_ERUNTIME, "cannot create a temporary directory for '%s'", ova);
		free(*dir);
		*dir = NULL;
		return rc;
	}
	struct member *ms = calloc(MAX_MEMBERS, sizeof *ms);
	struct archive *a = archive_read_new();
	int dirfd = open(*dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = ms && a && dirfd >= 0 ? 0 : ep_oom(err);
	if (!rc && (archive_read_support_format_tar(a) != ARCHIVE_OK ||
		    archive_read_open_filename(a, ova, 1 << 16) != ARCHIVE_OK))
		rc = ep_fail(err, EP_EINPUT, "ova: cannot read '%s': %s", ova, archive_error_string(a));
	size_t n = 0;
	const char *ovf = NULL, *mf = NULL;
	struct archive_entry *e;
	int r;
	while (!rc && (r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		const char *name = archive_entry_pathname(e);
		if (archive_entry_filetype(e) != AE_IFREG || !name || !ep_name_ok(name) || strlen(name) >= sizeof ms->name)
			rc = ep_fail(err, EP_EINPUT, "ova: '%s': member '%s' is not a plain file with a plain name", ova,
				     name ? name : "?");
		else if (n == MAX_MEMBERS)
			rc = ep_fail(err, EP_EINPUT, "ova: '%s' has more than %d members", ova, MAX_MEMBERS);
		else {
			snprintf(ms[n].name, sizeof ms->name, "%s", name);
			size_t len = strlen(name);
			bool is_ovf = len > 4 && !strcmp(name + len - 4, ".ovf");
			if (is_ovf && (n != 0 || ovf))
				rc = ep_fail(err, EP_EINPUT, "ova: '%s': the descriptor must be the first member, and alone", ova);
			if (is_ovf)
				ovf = ms[n].name;
			if (len > 3 && !strcmp(name + len - 3, ".mf"))
				mf = ms[n].name;
			if (!rc)
				rc = unpack(a, dirfd, &ms[n++], ova, err);
		}
	}
	if (!rc && r != ARCHIVE_EOF)
		rc = ep_fail(err, EP_EINPUT, "ova: '%s': %s", ova, archive_error_string(a));
	if (!rc && !ovf)
		rc = ep_fail(err, EP_EINPUT, "ova: '%s' holds no .ovf descriptor", ova);
	if (!rc && mf)
		rc = check_manifest(*dir, mf, ms, n, ova, err);
	char path[PATH_MAX];
	if (!rc)
		rc = ep_path_format(path, sizeof path, err, "%s/%s", *dir, ovf);
	if (!rc)
		rc = ep_ovf_read(path, NULL, out, err);
	if (!rc) { /* messages name the OVA, not the temporary copy */
		free((*out)->origin);
		if (!((*out)->origin = strdup(ova)))
			rc = ep_oom(err);
	}
	archive_read_free(a);
	if (dirfd >= 0)
		close(dirfd);
	free(ms);
	if (rc) {
		ep_ova_cleanup(*dir);
		*dir = NULL;
	}
	return rc;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

void ep_ova_cleanup(char *dir)
{
	if (dir)
		nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}
