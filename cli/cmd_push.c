#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli.h"
#include "formats/bundle/bundle.h"
#include "cloud/s3.h"

static const char help[] =
	"usage: envpack push BUNDLE s3://BUCKET/KEY [OPTIONS]\n\n"
	"Upload a bundle to S3 or an S3-compatible store. A bundle up to 16 MiB goes\n"
	"up in one PUT; a larger one as a multipart upload in 16 MiB parts (past\n"
	"16 GiB, in 1024 larger ones) unless --part-size sets them, 10 at once.\n"
	"A push that stopped half-way resumes on the next run from the parts already\n"
	"there (each kept only if its MD5 matches).\n"
	"The object appears only once complete, and only if the key is free: push\n"
	"never overwrites (If-None-Match: *). Its size and ETag are checked at the end.\n\n"
	"Options:\n"
	"  -j, --jobs N         send N parts at once, each on its own connection (default 10)\n"
	CLI_HTTP_HELP
	CLI_S3_HELP
	"      --json           print the result as JSON on stdout\n"
	"  -q, --quiet          no progress bar, no output on success\n"
	"  -h, --help           this help\n\n"
	"Example:\n"
	"  envpack push web.envpack s3://backups/web/2026-11-25.envpack --endpoint http://127.0.0.1:9000\n";

int cmd_push(int argc, char **argv)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 'J' }, { "quiet", no_argument, NULL, 'q' },
					      { "jobs", required_argument, NULL, 'j' },
					      { "help", no_argument, NULL, 'h' },  CLI_S3_OPTIONS,
					      CLI_NET_OPTIONS,			   { 0 } };
	struct cli_net net = { 0 };
	struct ep_s3_options s3opt = { 0 };
	bool json = false, quiet = false;
	int c;
	long jobs;
	while ((c = getopt_long(argc, argv, "qhj:", opts, NULL)) != -1) {
		int r = cli_net_option("push", c, optarg, &net);
		if (!r)
			r = cli_s3_option("push", c, optarg, &s3opt);
		if (r < 0)
			return 2;
		if (r)
			continue;
		switch (c) {
		case 'J': json = true; break;
		case 'j':
			if (!cli_number(optarg, 1, 16, &jobs))
				return cli_usage("push", "--jobs takes a number from 1 to 16");
			s3opt.jobs = (unsigned)jobs;
			break;
		case 'q': quiet = true; break;
		case 'h': return cli_help(help);
		default: return cli_usage("push", "unknown option");
		}
	}
	if (optind + 2 != argc)
		return cli_usage("push", "name a bundle and where it goes, s3://BUCKET/KEY");
	const char *path = argv[optind];
	struct ep_error err = { 0 };
	struct ep_s3_url u;
	if (ep_s3_url_parse(argv[optind + 1], &u, &err))
		return cli_usage("push", "%s", err.msg);
	s3opt.http = net.registry.http;
	struct ep_bundle *b = NULL;
	struct ep_s3 *s3 = NULL;
	struct ep_s3_put_stats stats = { 0 };
	int fd = -1, rc = ep_bundle_open(&b, path, &err); /* only bundles go up: a typo doesn't upload a disk */
	struct stat st;
	if (!rc && ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) != 0))
		rc = ep_fail_errno(&err, EP_ERUNTIME, "cannot open '%s'", path);
	if (!rc)
		rc = ep_s3_open(&s3, &s3opt, &err);
	struct ep_progress progress;
	struct cli_bar bar;
	cli_bar_init(&bar, &progress, "push", quiet || json);
	if (!rc)
		rc = ep_s3_put_file(s3, &u, fd, (uint64_t)st.st_size, &progress, &stats, &err);
	cli_bar_finish(&bar);
	if (json) {
		json_t *o = json_pack("{s:s,s:s,s:b,s:I,s:i,s:i,s:s?}", "bundle", path, "to", argv[optind + 1], "ok", !rc,
				      "bytes", (json_int_t)(rc ? 0 : st.st_size), "parts", (int)stats.parts, "parts_resumed",
				      (int)stats.parts_resumed, "error", rc ? err.msg : NULL);
		json_dumpf(o, stdout, JSON_COMPACT);
		putchar('\n');
		json_decref(o);
	} else if (!rc && !quiet) {
		char h[32];
		cli_human((uint64_t)st.st_size, h, sizeof h);
		if (stats.parts)
			printf("pushed %s to %s: %s in %u parts (%u already there)\n", path, argv[optind + 1], h, stats.parts,
			       stats.parts_resumed);
		else
			printf("pushed %s to %s: %s\n", path, argv[optind + 1], h);
	}
	if (fd >= 0)
		close(fd);
	ep_s3_close(s3);
	ep_bundle_close(b);
	return rc ? cli_fail(&err) : 0;
}
