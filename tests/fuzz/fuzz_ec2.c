/* libFuzzer target: what an EC2 endpoint answers the aws: target and vm:aws:: error
 * answers, the Describe*Tasks answers an import's state is read from, and what
 * DescribeImages, DescribeInstances and DescribeInstanceTypes say of a machine. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/ec2.h"
#include "cloud/ec2_describe.h"

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

static void printable(const char *s)
{
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			abort();
}

/* Texts that reach the manifest and messages: printable; the type of the XPath-safe
 * alphabet; sizes within pack's own bounds. */
static void check_machine(const struct ep_ec2_machine *m)
{
	printable(m->name), printable(m->boot_mode), printable(m->architecture), printable(m->platform);
	if (strspn(m->instance_type, "abcdefghijklmnopqrstuvwxyz0123456789.-") != strlen(m->instance_type) ||
	    m->vcpus > 1024 || m->memory_mib > 16777216)
		abort();
}

static void describe(const uint8_t *data, size_t size)
{
	static const char *const roots[] = { "DescribeImagesResponse", "DescribeInstancesResponse",
					     "DescribeInstanceTypesResponse" };
	struct ep_error err;
	for (int i = 0; i < 3; i++) {
		struct ep_xml x;
		if (ep_xml_parse(&x, (const char *)data, size, "answer", "ec2", roots[i], NULL, &err))
			continue;
		struct ep_ec2_machine m = { 0 };
		int rc = i == 0	  ? ep_ec2_image_from(&x, "ami-1", &m, &err)
			 : i == 1 ? ep_ec2_instance_from(&x, "i-1", &m, &err)
				  : ep_ec2_type_from(&x, "t3.micro", &m, &err);
		if (rc == 0)
			check_machine(&m);
		ep_xml_release(&x);
	}
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
	describe(data, size);
	return 0;
}
