#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "formats/disk/convert.h"
#include "formats/disk/disk.h"

static const char help[] =
	"usage: envpack convert [-f FMT] -O FMT [OPTIONS] IN OUT\n\n"
	"Convert a disk image from one format to another, as qemu-img convert does,\n"
	"without a bundle in between. Only allocated data is read; holes and zero\n"
	"clusters stay holes. OUT appears only once it is complete, and is never\n"
	"overwritten.\n\n"
	"Formats:\n"
	"  raw    read and written, sparse\n"
	"  qcow2  read: v2 and v3, zero, compressed and extended-L2 clusters, backing\n"
	"         chains; written: v3 (-c for compressed clusters)\n"
	"  vmdk   read: monolithicSparse, streamOptimized, flat and split descriptors;\n"
	"         written: streamOptimized (default), monolithicSparse\n"
	"  vhd    (also vpc) read: fixed, dynamic, differencing; written: dynamic\n"
	"         (default), fixed (padded to whole MiB, as Azure requires)\n"
	"  vhdx   read: fixed and dynamic; written: dynamic\n\n"
	"Options:\n"
	"  -f, --format FMT     IN's format (default: detected from its first bytes;\n"
	"                       name it for a raw image that looks like another format)\n"
	"  -O, --output-format FMT  OUT's format (required)\n"
	"  -c, --compress       qcow2: compressed clusters, deflated on every core\n"
	"  -o subformat=NAME    vhd: dynamic (default) or fixed; vmdk: streamOptimized\n"
	"                       (default) or monolithicSparse\n"
	"      --allow-dir DIR  backing files may also come from DIR (default: only IN's\n"
	"                       own directory; absolute references are refused)\n"
	"  -q, --quiet          no progress bar\n"
	"  -h, --help           this help\n\n"
	"Example:\n"
	"  envpack convert -O qcow2 web.raw web.qcow2\n";

int cmd_convert(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' }, { "output-format", required_argument, NULL, 'O' },
		{ "allow-dir", required_argument, NULL, 'A' }, { "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },          { "options", required_argument, NULL, 'o' },
		{ "compress", no_argument, NULL, 'c' },
		{ 0 }
	};
	struct ep_disk_open_opts open_opts = { 0 };
	const char *allow[16];
	const char *out_format = NULL;
	struct ep_disk_create_opts create_opts = { 0 };
	bool quiet = false;
	int c;
	while ((c = getopt_long(argc, argv, "f:O:o:cqh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': create_opts.compress = true; break;
		case 'o':
			if (strncmp(optarg, "subformat=", 10) != 0)
				return cli_usage("convert", "-o takes subformat=NAME");
			create_opts.subformat = optarg + 10;
			break;
		case 'f': open_opts.format = optarg; break;
		case 'O': out_format = optarg; break;
		case 'A':
			if (open_opts.nallow == 16)
				return cli_usage("convert", "at most 16 --allow-dir");
			allow[open_opts.nallow++] = optarg;
			break;
		case 'q': quiet = true; break;
		case 'h': return cli_help(help);
		default: return cli_usage("convert", "unknown option");
		}
	}
	open_opts.allow_dirs = allow;
	if (optind + 2 != argc)
		return cli_usage("convert", "name the input and the output image");
	if (!out_format)
		return cli_usage("convert", "name the output format with -O (raw, qcow2)");
	const struct ep_disk_format *fmt = ep_disk_format_find(out_format);
	if (!fmt || !fmt->create)
		return cli_usage("convert", "'%s' is not a format envpack writes", out_format);
	if (create_opts.compress && strcmp(fmt->name, "qcow2") != 0)
		return cli_usage("convert", "-c is for qcow2 (vmdk streamOptimized is always compressed)");
	const char *in = argv[optind], *out = argv[optind + 1];
	struct ep_error err = { 0 };
	if (!access(out, F_OK)) {
		ep_fail(&err, EP_EINPUT, "'%s' exists; convert never overwrites", out);
		return cli_fail(&err);
	}
	struct ep_disk *src, *dst;
	if (ep_disk_open(&src, in, &open_opts, &err))
		return cli_fail(&err);
	/* write beside OUT, then rename: nothing half-written ever sits at OUT */
	char *dir = strdup(out), *base = strdup(out), *tmp = NULL;
	if (!dir || !base || asprintf(&tmp, "%s/.%s.envpack-tmp-%d", dirname(dir), basename(base), (int)getpid()) < 0)
		tmp = NULL;
	free(dir);
	free(base);
	if (!tmp) {
		ep_disk_close(src, NULL);
		return cli_fail(&(struct ep_error){ EP_ERUNTIME, "out of memory" });
	}
	struct ep_progress progress;
	struct cli_bar bar;
	cli_bar_init(&bar, &progress, "convert", quiet);
	int rc = fmt->create(&dst, tmp, src->virtual_size, &create_opts, &err);
	if (!rc) {
		rc = ep_disk_copy(src, dst, &progress, &err);
		int crc = ep_disk_close(dst, &err);
		rc = rc ? rc : crc;
	}
	cli_bar_finish(&bar);
	ep_disk_close(src, NULL);
	if (!rc && renameat2(AT_FDCWD, tmp, AT_FDCWD, out, RENAME_NOREPLACE) != 0)
		rc = ep_fail_errno(&err, errno == EEXIST ? EP_EINPUT : EP_ERUNTIME, "cannot create '%s'", out);
	if (rc)
		unlink(tmp);
	free(tmp);
	return rc ? cli_fail(&err) : 0;
}
