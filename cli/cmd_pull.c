#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "formats/bundle/bundle.h"
#include "cloud/s3.h"

static const char help[] =
	"usage: envpack pull s3://BUCKET/KEY -o FILE [OPTIONS]\n\n"
	"Download a bundle from S3 or an S3-compatible store. A dropped connection\n"
	"resumes where it stopped; the bytes are checked against the object's size\n"
	"and (single-part objects) its MD5 ETag, and FILE appears only once the\n"
	"download is complete and is a bundle. FILE is never overwritten. Check the\n"
	"signature with 'envpack verify'.\n\n"
	"Options:\n"
	"  -o, --output FILE    where to write the bundle (required)\n"
	CLI_HTTP_HELP
	CLI_S3_HELP
	"  -q, --quiet          no progress bar, no output on success\n"
	"  -h, --help           this help\n";

int cmd_pull(int argc, char **argv)
{
	static const struct option opts[] = { { "output", required_argument, NULL, 'o' },
					      { "quiet", no_argument, NULL, 'q' },
					      { "help", no_argument, NULL, 'h' },
					      CLI_S3_OPTIONS,
					      CLI_NET_OPTIONS,
					      { 0 } };
	struct cli_net net = { 0 };
	struct ep_s3_options s3opt = { 0 };
	const char *out = NULL;
	bool quiet = false;
	int c;
	while ((c = getopt_long(argc, argv, "o:qh", opts, NULL)) != -1) {
		int r = cli_net_option("pull", c, optarg, &net);
		if (!r)
			r = cli_s3_option("pull", c, optarg, &s3opt);
		if (r < 0)
			return 2;
		if (r)
			continue;
		switch (c) {
		case 'o': out = optarg; break;
		case 'q': quiet = true; break;
		case 'h': return cli_help(help);
		default: return cli_usage("pull", "unknown option");
		}
	}
	if (optind + 1 != argc || !out)
		return cli_usage("pull", "name the object, s3://BUCKET/KEY, and the file to write with -o FILE");
	struct ep_error err = { 0 };
	struct ep_s3_url u;
	if (ep_s3_url_parse(argv[optind], &u, &err))
		return cli_usage("pull", "%s", err.msg);
	s3opt.http = net.registry.http;
	if (access(out, F_OK) == 0) {
		ep_fail(&err, EP_EINPUT, "'%s' exists; pull never overwrites", out);
		return cli_fail(&err);
	}
	char *copy = strdup(out), *tmp = NULL;
	if (!copy || asprintf(&tmp, "%s/.envpack-pull-XXXXXX", dirname(copy)) < 0) {
		free(copy);
		return cli_fail(&(struct ep_error){ EP_ERUNTIME, "out of memory" });
	}
	free(copy);
	struct ep_s3 *s3 = NULL;
	struct ep_bundle *b = NULL;
	uint64_t size = 0;
	int fd = mkstemp(tmp);
	int rc = fd < 0 ? ep_fail_errno(&err, EP_ERUNTIME, "cannot create a file beside '%s'", out) : 0;
	struct ep_progress progress;
	struct cli_bar bar;
	cli_bar_init(&bar, &progress, "pull", quiet);
	if (!rc)
		rc = ep_s3_open(&s3, &s3opt, &err);
	if (!rc)
		rc = ep_s3_get_file(s3, &u, fd, &size, &progress, &err);
	cli_bar_finish(&bar);
	if (!rc && fsync(fd) != 0)
		rc = ep_fail_errno(&err, EP_ERUNTIME, "cannot write '%s'", out);
	if (!rc && (rc = ep_bundle_open(&b, tmp, &err)) != 0)
		ep_error_prefix(&err, "%s is not a bundle: ", argv[optind]);
	ep_bundle_close(b);
	if (!rc && renameat2(AT_FDCWD, tmp, AT_FDCWD, out, RENAME_NOREPLACE) != 0)
		rc = ep_fail_errno(&err, errno == EEXIST ? EP_EINPUT : EP_ERUNTIME, "cannot publish '%s'", out);
	if (rc && fd >= 0)
		unlink(tmp);
	if (fd >= 0)
		close(fd);
	free(tmp);
	ep_s3_close(s3);
	if (!rc && !quiet) {
		char h[32];
		cli_human(size, h, sizeof h);
		printf("pulled %s to %s: %s\n", argv[optind], out, h);
	}
	return rc ? cli_fail(&err) : 0;
}
