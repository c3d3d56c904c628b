/* libFuzzer target: what an EC2 endpoint answers the aws: target: error
 * answers, and the Describe*Tasks answers an import's state is read from. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/ec2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_task(const struct ep_ec2_task *st)
{
	const char *ok = "abcdefghijklmnopqrstuvwxyz0123456789-";
	/* what reaches the terminal and the JSON output: ids of the expected alphabet, printable messages */
	if (strspn(st->status, ok) != strlen(st->status) || !*st->status || strspn(st->made, ok) != strlen(st->made))
		abort();
	for (const char *p = st->message; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ep_error err;
	ep_ec2_error(400 + (size ? data[0] : 0), (const char *)data, size, "ec2: fuzz", &err);
	for (const char *p = err.msg; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			abort();
	static const char *const roots[] = { "DescribeImportImageTasksResponse", "DescribeImportSnapshotTasksResponse" };
	for (int i = 0; i < 2; i++) {
		struct ep_xml x;
		if (ep_xml_parse(&x, (const char *)data, size, "answer", "ec2", roots[i], NULL, &err))
			continue;
		struct ep_ec2_task st;
		if (ep_ec2_import_task(&x, i == 1, i ? "import-snap-1" : "import-ami-1", &st, &err) == 0)
			check_task(&st);
		ep_xml_release(&x);
	}
	return 0;
}
