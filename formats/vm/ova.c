#include "formats/vm/ova.h"

#include <archive.h>
#include <archive_entry.h>
#include <ctype.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "base/util.h"
#include "formats/vm/ovf.h"

#define MAX_MEMBERS 128
#define MF_MAX ((size_t)64 << 10)
#define HEX_MAX (2 * EVP_MAX_MD_SIZE + 1)

/* The digests OVF Tool, VirtualBox and virt-v2v write in an .mf. Any other (MD5, which
 * VMware never writes) is refused rather than skipped: a line left unchecked would let a
 * damaged member through. */
static const struct algo {
	const char *name;
	const EVP_MD *(*md)(void);
} algos[] = { { "SHA1", EVP_sha1 }, { "SHA256", EVP_sha256 }, { "SHA512", EVP_sha512 } };
#define NALGOS (sizeof algos / sizeof *algos)
#define ALL_ALGOS ((1u << NALGOS) - 1)

struct member {
	char name[130];
	char digest[NALGOS][HEX_MAX]; /* lowercase hex of what was unpacked, for each algorithm hashed */
	bool listed;                  /* the .mf gives its digest */
};

/* One line of the .mf; name and hex point into its text. */
struct mf_entry {
	char *name;
	const char *hex;
	size_t algo;
	unsigned line;
};

/* The package's .mf, parsed as soon as it is unpacked, so the members after it are hashed
 * only with the algorithms it uses. */
struct mf {
	const char *ova, *name;
	char *text;
	struct mf_entry *e;
	size_t n, cap;
	unsigned algos; /* bit i: a line uses algos[i] */
};

/* Writes the current member into dirfd/name, hashing it on the way with each algorithm in mask. */
static int unpack(struct archive *a, int dirfd, struct member *m, unsigned mask, const char *ova,
		  struct ep_error *err)
{
	int fd = openat(dirfd, m->name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return ep_fail_errno(err, EP_EINPUT, "ova: '%s': member '%s' cannot be unpacked (twice in the tar?)", ova, m->name);
	EVP_MD_CTX *ctx[NALGOS] = { 0 };
	int rc = 0;
	for (size_t i = 0; i < NALGOS && !rc; i++)
		if (mask >> i & 1 && (!(ctx[i] = EVP_MD_CTX_new()) || !EVP_DigestInit_ex(ctx[i], algos[i].md(), NULL)))
			rc = ep_oom(err);
	const void *buf;
	size_t len;
	la_int64_t off;
	int r;
	while (!rc && (r = archive_read_data_block(a, &buf, &len, &off)) == ARCHIVE_OK) {
		for (size_t i = 0; i < NALGOS; i++)
			if (ctx[i])
				EVP_DigestUpdate(ctx[i], buf, len);
		rc = ep_pwrite_full(fd, buf, len, (uint64_t)off, m->name, err);
	}
	if (!rc && r != ARCHIVE_EOF)
		rc = ep_fail(err, EP_EINPUT, "ova: '%s': %s", ova, archive_error_string(a));
	for (size_t i = 0; i < NALGOS; i++) {
		uint8_t d[EVP_MAX_MD_SIZE];
		unsigned n;
		if (!rc && ctx[i] && EVP_DigestFinal_ex(ctx[i], d, &n))
			ep_hex(d, n, m->digest[i]);
		EVP_MD_CTX_free(ctx[i]);
	}
	close(fd);
	return rc;
}

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Takes the digest on one .mf line after checking it against the lines before. */
static int add_entry(struct mf *mf, char *name, size_t algo, const char *hex, unsigned line,
		     struct ep_error *err)
{
	for (size_t i = 0; i < mf->n; i++)
		if (mf->e[i].algo == algo && !strcmp(mf->e[i].name, name) && strcmp(mf->e[i].hex, hex))
			return ep_fail(err, EP_EINPUT, "ova: '%s': %s line %u lists '%s' again with another %s digest than line %u",
				       mf->ova, mf->name, line, name, algos[algo].name, mf->e[i].line);
	if (!ep_grow((void **)&mf->e, &mf->cap, mf->n + 1, sizeof *mf->e))
		return ep_oom(err);
	mf->e[mf->n++] = (struct mf_entry){ .name = name, .hex = hex, .algo = algo, .line = line };
	mf->algos |= 1u << algo;
	return 0;
}

/* One .mf line, "ALGO(FILE)= HEX" as every tool writes it, with or without blanks around the
 * parentheses and '=', ALGO and HEX in any case; parsed in place (NULs end the name and hex).
 * A blank line is nothing; a line that is none of these fails, naming it. */
static int parse_line(struct mf *mf, char *line, unsigned no, struct ep_error *err)
{
	char *end = line + strlen(line);
	while (end > line && blank(end[-1]))
		end--;
	*end = '\0';
	char *algo = line;
	while (blank(*algo))
		algo++;
	if (!*algo)
		return 0;
	char *open = algo;
	while (isalnum((unsigned char)*open) || *open == '-')
		open++;
	char *algo_end = open;
	while (blank(*open))
		open++;
	char *hex = end; /* the digest ends the line; the name, between the parentheses, may hold anything */
	while (hex > open && isxdigit((unsigned char)hex[-1]))
		hex--;
	char *close = hex;
	while (close > open && blank(close[-1]))
		close--;
	bool eq = close > open && close[-1] == '=';
	if (eq)
		for (close--; close > open && blank(close[-1]); close--)
			;
	if (algo_end == algo || *open != '(' || !eq || hex == end || close - open < 3 || close[-1] != ')')
		return ep_fail(err, EP_EINPUT, "ova: '%s': %s line %u is not 'ALGO(FILE)= HEX': '%s'", mf->ova, mf->name, no,
			       ep_printable(algo));
	*algo_end = close[-1] = '\0';
	size_t a = 0;
	while (a < NALGOS && strcasecmp(algo, algos[a].name))
		a++;
	if (a == NALGOS)
		return ep_fail(err, EP_EINPUT, "ova: '%s': %s line %u: digest algorithm '%s' is not one envpack checks (SHA1, SHA256, SHA512)",
			       mf->ova, mf->name, no, ep_printable(algo));
	size_t want = 2 * (size_t)EVP_MD_size(algos[a].md());
	if ((size_t)(end - hex) != want)
		return ep_fail(err, EP_EINPUT, "ova: '%s': %s line %u: a %s digest has %zu hex digits, not %zu", mf->ova,
			       mf->name, no, algos[a].name, want, (size_t)(end - hex));
	for (char *p = hex; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return add_entry(mf, open + 1, a, hex, no, err);
}

/* Reads the unpacked .mf; CRLF line endings, a UTF-8 BOM and blank lines are fine. */
static int parse_manifest(struct mf *mf, const char *dir, struct ep_error *err)
{
	char path[PATH_MAX];
	size_t len;
	int rc = ep_path_format(path, sizeof path, err, "%s/%s", dir, mf->name);
	if (!rc)
		rc = ep_read_file(path, MF_MAX, &mf->text, &len, err);
	if (!rc && strlen(mf->text) != len)
		rc = ep_fail(err, EP_EINPUT, "ova: '%s': its manifest '%s' holds a NUL byte", mf->ova, mf->name);
	char *line = mf->text && !strncmp(mf->text, "\xef\xbb\xbf", 3) ? mf->text + 3 : mf->text;
	for (unsigned no = 1; !rc && line; no++) {
		char *next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		rc = parse_line(mf, line, no, err);
		line = next;
	}
	return rc;
}

/* Every digest the .mf gives must match what was unpacked. */
static int check_manifest(const struct mf *mf, struct member *ms, size_t n, struct ep_error *err)
{
	for (size_t i = 0; i < mf->n; i++) {
		const struct mf_entry *e = &mf->e[i];
		size_t k = 0;
		while (k < n && strcmp(ms[k].name, e->name))
			k++;
		if (k == n)
			return ep_fail(err, EP_EINPUT, "ova: '%s': its manifest '%s' names '%s' (line %u), which the package lacks",
				       mf->ova, mf->name, ep_printable(e->name), e->line);
		if (strcmp(e->hex, ms[k].digest[e->algo]))
			return ep_fail(err, EP_EINTEGRITY, "ova: '%s': member '%s' does not match its %s digest in '%s' (line %u)",
				       mf->ova, e->name, algos[e->algo].name, mf->name, e->line);
		ms[k].listed = true;
	}
	return 0;
}

static bool ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);
	return n > t && !strcmp(s + n - t, tail);
}

/* A member read unchecked: refused, or with allow_unlisted a warning. */
static int unlisted(const struct mf *mf, const char *member, const struct ep_ova_options *opts, struct ep_error *err)
{
	if (!opts || !opts->allow_unlisted)
		return ep_fail(err, EP_EINPUT, "ova: '%s': its manifest '%s' does not list member '%s' (--allow-unlisted packs it unchecked)",
			       mf->ova, mf->name, member);
	char msg[512];
	snprintf(msg, sizeof msg, "ova: '%s': member '%s' is not in its manifest '%s': packed unchecked (--allow-unlisted)",
		 mf->ova, member, mf->name);
	if (opts->warn)
		opts->warn(opts->warn_ctx, msg);
	return 0;
}

static bool exempt(const struct mf *mf, const char *member)
{
	return !strcmp(member, mf->name) || ends_with(member, ".cert");
}

/* Every member but the .mf and a certificate (not checked) must be listed: the descriptor, the
 * files it references, and any other file a disk could read (a VMDK descriptor's extents). */
static int check_listed(const struct mf *mf, const struct member *ms, size_t n, const struct ep_ova_options *opts,
			struct ep_error *err)
{
	int rc = 0;
	for (size_t k = 0; !rc && k < n; k++)
		if (!ms[k].listed && !exempt(mf, ms[k].name))
			rc = unlisted(mf, ms[k].name, opts, err);
	return rc;
}

/* Nor may a disk be the .mf or a certificate, which check_listed passed over. */
static int check_disks_listed(const struct mf *mf, const struct member *ms, size_t n, const struct ep_vm_source *vm,
			      const struct ep_ova_options *opts, struct ep_error *err)
{
	int rc = 0;
	for (size_t d = 0; !rc && d < vm->nwhere; d++) {
		const char *slash = strrchr(vm->where[d].path, '/');
		const char *base = slash ? slash + 1 : vm->where[d].path;
		for (size_t k = 0; !rc && k < n; k++)
			if (!strcmp(ms[k].name, base) && !ms[k].listed && exempt(mf, base))
				rc = unlisted(mf, base, opts, err);
	}
	return rc;
}

/* Unpacks every member into dirfd, the descriptor first; a .mf among them is parsed at once. */
static int unpack_all(struct archive *a, const char *dir, int dirfd, struct member *ms, size_t *n, const char **ovf,
		      struct mf *mf, struct ep_error *err)
{
	const char *ova = mf->ova;
	struct archive_entry *e;
	int rc = 0, r;
	while (!rc && (r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		const char *name = archive_entry_pathname(e);
		if (archive_entry_filetype(e) != AE_IFREG || !name || !ep_name_ok(name) || strlen(name) >= sizeof ms->name)
			return ep_fail(err, EP_EINPUT, "ova: '%s': member '%s' is not a plain file with a plain name", ova,
				       name ? name : "?");
		if (*n == MAX_MEMBERS)
			return ep_fail(err, EP_EINPUT, "ova: '%s' has more than %d members", ova, MAX_MEMBERS);
		struct member *m = &ms[*n];
		snprintf(m->name, sizeof m->name, "%s", name);
		bool is_ovf = ends_with(name, ".ovf"), is_mf = ends_with(name, ".mf");
		if (is_ovf && (*n != 0 || *ovf))
			return ep_fail(err, EP_EINPUT, "ova: '%s': the descriptor must be the first member, and alone", ova);
		if (is_mf && mf->name)
			return ep_fail(err, EP_EINPUT, "ova: '%s' holds two manifests, '%s' and '%s'", ova, mf->name, name);
		/* members before the .mf: every algorithm it may name; after it: the ones it does */
		rc = unpack(a, dirfd, m, mf->name ? mf->algos : ALL_ALGOS, ova, err);
		(*n)++;
		if (is_ovf)
			*ovf = m->name;
		if (!rc && is_mf) {
			mf->name = m->name;
			rc = parse_manifest(mf, dir, err);
		}
	}
	if (!rc && r != ARCHIVE_EOF)
		rc = ep_fail(err, EP_EINPUT, "ova: '%s': %s", ova, archive_error_string(a));
	return rc;
}

int ep_ova_read(const char *ova, const struct ep_ova_options *opts, char **dir, struct ep_vm_source **out,
		struct ep_error *err)
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
	const char *ovf = NULL;
	struct mf mf = { .ova = ova };
	if (!rc)
		rc = unpack_all(a, *dir, dirfd, ms, &n, &ovf, &mf, err);
	if (!rc && !ovf)
		rc = ep_fail(err, EP_EINPUT, "ova: '%s' holds no .ovf descriptor", ova);
	if (!rc && mf.name && !(rc = check_manifest(&mf, ms, n, err)))
		rc = check_listed(&mf, ms, n, opts, err);
	char path[PATH_MAX];
	if (!rc)
		rc = ep_path_format(path, sizeof path, err, "%s/%s", *dir, ovf);
	if (!rc)
		rc = ep_ovf_read(path, NULL, out, err);
	if (!rc && mf.name)
		rc = check_disks_listed(&mf, ms, n, *out, opts, err);
	if (!rc) { /* messages name the OVA, not the temporary copy */
		free((*out)->origin);
		if (!((*out)->origin = strdup(ova)))
			rc = ep_oom(err);
	}
	archive_read_free(a);
	if (dirfd >= 0)
		close(dirfd);
	free(mf.text);
	free(mf.e);
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
