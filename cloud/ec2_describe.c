#include "cloud/ec2_describe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

#define CHILD "*[local-name()='%s']"

/* The text of at's child `name` (a path of local names, '/'-separated), printable, into out. */
static void field(struct ep_xml *x, xmlNodePtr at, const char *name, char *out, size_t cap)
{
	char expr[300];
	size_t n = 0;
	for (const char *p = name; *p && n < sizeof expr; p += strcspn(p, "/"), p += *p == '/')
		n += (size_t)snprintf(expr + n, sizeof expr - n, "%s*[local-name()='%.*s']", n ? "/" : "",
				      (int)strcspn(p, "/"), p);
	char *v = ep_xml_get(x, at, expr);
	snprintf(out, cap, "%s", v ? ep_printable(v) : "");
	free(v);
}

/* The first node expr finds, or NULL. */
static xmlNodePtr first(struct ep_xml *x, const char *expr, xmlXPathObjectPtr *o)
{
	*o = ep_xml_all(x, NULL, expr);
	return *o && (*o)->nodesetval && (*o)->nodesetval->nodeNr > 0 ? (*o)->nodesetval->nodeTab[0] : NULL;
}

static bool id_ok(const char *s)
{
	size_t n = strlen(s);
	return n > 0 && n < 64 && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789.-") == n;
}

typedef int (*reader_fn)(struct ep_xml *x, const char *id, struct ep_ec2_machine *out, struct ep_error *err);

/* One describe call about id, its answer read into out; EC2's "no such id" codes (NULL:
 * none) are the user's to fix. An id read refuses is not sent. */
static int ask(struct ep_ec2 *ec2, const char *action, const char *param, const char *id, const char *codes,
	       reader_fn read, struct ep_ec2_machine *out, struct ep_error *err)
{
	if (!id_ok(id))
		return read(NULL, id, out, err);
	struct ep_ec2_form f = { 0 };
	struct ep_xml x;
	ep_ec2_form_add(&f, id, "%s", param);
	int rc = ep_ec2_call(ec2, action, &f, &x, err);
	ep_ec2_form_release(&f);
	if (rc && codes && strstr(err->msg, codes))
		err->code = rc = EP_EINPUT;
	if (rc)
		return rc;
	rc = read(&x, id, out, err);
	ep_xml_release(&x);
	return rc;
}

/* Architecture and platform, where an image and an instance say them alike. */
static void common(struct ep_xml *x, xmlNodePtr n, struct ep_ec2_machine *out)
{
	field(x, n, "architecture", out->architecture, sizeof out->architecture);
	field(x, n, "platformDetails", out->platform, sizeof out->platform);
	if (!out->platform[0])
		field(x, n, "platform", out->platform, sizeof out->platform);
}

int ep_ec2_image_from(struct ep_xml *x, const char *ami, struct ep_ec2_machine *out, struct ep_error *err)
{
	*out = (struct ep_ec2_machine){ 0 };
	if (!id_ok(ami)) /* it goes into an XPath expression */
		return ep_fail(err, EP_EINPUT, "ec2: '%.64s' is not an AMI id", ami);
	char expr[300];
	snprintf(expr, sizeof expr, "/*/" CHILD "/" CHILD "[" CHILD "='%s']", "imagesSet", "item", "imageId", ami);
	xmlXPathObjectPtr o;
	xmlNodePtr n = first(x, expr, &o);
	int rc = 0;
	if (!n)
		rc = ep_fail(err, EP_EINPUT, "ec2: DescribeImages does not know %s (or it is not shared with this account)",
			     ami);
	else {
		field(x, n, "name", out->name, sizeof out->name);
		field(x, n, "bootMode", out->boot_mode, sizeof out->boot_mode);
		common(x, n, out);
	}
	xmlXPathFreeObject(o);
	return rc;
}

int ep_ec2_describe_image(struct ep_ec2 *ec2, const char *ami, struct ep_ec2_machine *out, struct ep_error *err)
{
	return ask(ec2, "DescribeImages", "ImageId.1", ami, "InvalidAMIID", ep_ec2_image_from, out, err);
}

static bool number(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v = *s >= '0' && *s <= '9' ? strtoull(s, &end, 10) : 0;
	if (*s < '0' || *s > '9' || *end || v == 0 || v > max)
		return false;
	*out = v;
	return true;
}

int ep_ec2_type_from(struct ep_xml *x, const char *type, struct ep_ec2_machine *out, struct ep_error *err)
{
	if (!id_ok(type))
		return ep_fail(err, EP_ERUNTIME, "ec2: '%.64s' is not an instance type", type);
	char expr[300], vcpus[32] = "", mib[32] = "";
	snprintf(expr, sizeof expr, "/*/" CHILD "/" CHILD "[" CHILD "='%s']", "instanceTypeSet", "item", "instanceType",
		 type);
	xmlXPathObjectPtr o;
	xmlNodePtr n = first(x, expr, &o);
	if (n) {
		field(x, n, "vCpuInfo/defaultVCpus", vcpus, sizeof vcpus);
		field(x, n, "memoryInfo/sizeInMiB", mib, sizeof mib);
	}
	xmlXPathFreeObject(o);
	uint64_t v = 0, m = 0;
	/* bounded as pack's --vcpus and --memory are */
	if (!number(vcpus, 1024, &v) || !number(mib, 16777216, &m))
		return ep_fail(err, EP_ERUNTIME, "ec2: DescribeInstanceTypes gives no vCPUs and memory for %s", type);
	out->vcpus = (unsigned)v;
	out->memory_mib = m;
	return 0;
}

int ep_ec2_instance_from(struct ep_xml *x, const char *instance, struct ep_ec2_machine *out, struct ep_error *err)
{
	*out = (struct ep_ec2_machine){ 0 };
	if (!id_ok(instance))
		return ep_fail(err, EP_EINPUT, "ec2: '%.64s' is not an instance id", instance);
	char expr[400];
	snprintf(expr, sizeof expr, "/*/" CHILD "/" CHILD "/" CHILD "/" CHILD "[" CHILD "='%s']", "reservationSet", "item",
		 "instancesSet", "item", "instanceId", instance);
	xmlXPathObjectPtr o;
	xmlNodePtr n = first(x, expr, &o);
	int rc = 0;
	if (!n)
		rc = ep_fail(err, EP_EINPUT, "ec2: DescribeInstances does not know %s", instance);
	else {
		field(x, n, "instanceType", out->instance_type, sizeof out->instance_type);
		/* the mode it booted in; an AMI of uefi-preferred boots either way */
		field(x, n, "currentInstanceBootMode", out->boot_mode, sizeof out->boot_mode);
		if (!out->boot_mode[0])
			field(x, n, "bootMode", out->boot_mode, sizeof out->boot_mode);
		common(x, n, out);
		snprintf(expr, sizeof expr, CHILD "/" CHILD "[" CHILD "='Name']/" CHILD, "tagSet", "item", "key", "value");
		char *name = ep_xml_get(x, n, expr);
		snprintf(out->name, sizeof out->name, "%s", name ? ep_printable(name) : "");
		free(name);
	}
	xmlXPathFreeObject(o);
	if (!rc && !id_ok(out->instance_type))
		rc = ep_fail(err, EP_ERUNTIME, "ec2: DescribeInstances gives %s no instance type", instance);
	return rc;
}

int ep_ec2_describe_instance(struct ep_ec2 *ec2, const char *instance, struct ep_ec2_machine *out,
			     struct ep_error *err)
{
	int rc = ask(ec2, "DescribeInstances", "InstanceId.1", instance, "InvalidInstanceID", ep_ec2_instance_from, out,
		     err);
	/* a type DescribeInstances names and DescribeInstanceTypes does not know is AWS's to explain */
	return rc ? rc : ask(ec2, "DescribeInstanceTypes", "InstanceType.1", out->instance_type, NULL, ep_ec2_type_from,
			     out, err);
}
