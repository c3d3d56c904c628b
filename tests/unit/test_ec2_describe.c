/* What EC2 says of an AMI, an instance and its type, read from answers of EC2's shape. */
#include <stdlib.h>
#include <string.h>

#include "cloud/ec2_describe.h"
#include "tests/unit/unit.h"

enum which { IMAGE, INSTANCE, TYPE };

static int read_answer(const char *xml, enum which w, const char *id, struct ep_ec2_machine *m, struct ep_error *err)
{
	static const char *const roots[] = { "DescribeImagesResponse", "DescribeInstancesResponse",
					     "DescribeInstanceTypesResponse" };
	struct ep_xml x;
	int rc = ep_xml_parse(&x, xml, strlen(xml), "answer", "ec2", roots[w], NULL, err);
	if (rc)
		return rc;
	rc = w == IMAGE ? ep_ec2_image_from(&x, id, m, err) : w == INSTANCE ? ep_ec2_instance_from(&x, id, m, err)
									       : ep_ec2_type_from(&x, id, m, err);
	ep_xml_release(&x);
	return rc;
}

#define NS "xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\""

TEST(ec2_describe_image)
{
	struct ep_ec2_machine m;
	struct ep_error err = { 0 };
	const char xml[] = "<DescribeImagesResponse " NS "><requestId>r</requestId><imagesSet>"
			   "<item><imageId>ami-1</imageId><name>other</name></item>"
			   "<item><imageId>ami-2</imageId><architecture>x86_64</architecture><name>web\n(prod)</name>"
			   "<blockDeviceMapping><item><deviceName>/dev/xvda</deviceName></item></blockDeviceMapping>"
			   "<platform>windows</platform><bootMode>uefi-preferred</bootMode></item></imagesSet>"
			   "</DescribeImagesResponse>";
	EXPECT(read_answer(xml, IMAGE, "ami-2", &m, &err) == 0);
	EXPECT(!strcmp(m.name, "web?(prod)") && !strcmp(m.boot_mode, "uefi-preferred") &&
	       !strcmp(m.architecture, "x86_64") && !strcmp(m.platform, "windows") && !m.vcpus && !m.memory_mib);
	EXPECT(read_answer(xml, IMAGE, "ami-1", &m, &err) == 0 && !strcmp(m.name, "other") && !m.boot_mode[0] &&
	       !m.platform[0]);
	EXPECT(read_answer(xml, IMAGE, "ami-3", &m, &err) == EP_EINPUT && strstr(err.msg, "does not know ami-3"));
	EXPECT(read_answer(xml, IMAGE, "ami-1']|//*['", &m, &err) == EP_EINPUT); /* no XPath from outside */
}

TEST(ec2_describe_instance)
{
	struct ep_ec2_machine m;
	struct ep_error err = { 0 };
	const char xml[] = "<DescribeInstancesResponse " NS "><reservationSet><item><instancesSet><item>"
			   "<instanceId>i-1</instanceId><instanceType>m5.xlarge</instanceType><architecture>x86_64"
			   "</architecture><tagSet><item><key>team</key><value>ops</value></item><item><key>Name</key>"
			   "<value>db 1</value></item></tagSet><platformDetails>Windows</platformDetails><platform>windows"
			   "</platform><bootMode>uefi-preferred</bootMode><currentInstanceBootMode>legacy-bios"
			   "</currentInstanceBootMode></item><item><instanceId>i-2</instanceId><instanceType>t3.micro"
			   "</instanceType><bootMode>uefi</bootMode></item><item><instanceId>i-3</instanceId>"
			   "<instanceType>t3.micro; x</instanceType></item></instancesSet></item></reservationSet>"
			   "</DescribeInstancesResponse>";
	EXPECT(read_answer(xml, INSTANCE, "i-1", &m, &err) == 0);
	EXPECT(!strcmp(m.name, "db 1") && !strcmp(m.instance_type, "m5.xlarge") && !strcmp(m.boot_mode, "legacy-bios") &&
	       !strcmp(m.platform, "Windows"));
	EXPECT(read_answer(xml, INSTANCE, "i-2", &m, &err) == 0 && !m.name[0] && !strcmp(m.boot_mode, "uefi"));
	EXPECT(read_answer(xml, INSTANCE, "i-3", &m, &err) == EP_ERUNTIME && strstr(err.msg, "no instance type"));
	EXPECT(read_answer(xml, INSTANCE, "i-4", &m, &err) == EP_EINPUT && strstr(err.msg, "does not know i-4"));
}

static int type_of(const char *xml, const char *type, struct ep_ec2_machine *m, struct ep_error *err)
{
	*m = (struct ep_ec2_machine){ 0 };
	return read_answer(xml, TYPE, type, m, err);
}

TEST(ec2_describe_instance_type)
{
	struct ep_ec2_machine m;
	struct ep_error err = { 0 };
	const char xml[] = "<DescribeInstanceTypesResponse " NS "><instanceTypeSet>"
			   "<item><instanceType>m5.xlarge</instanceType><vCpuInfo><defaultVCpus>4</defaultVCpus>"
			   "</vCpuInfo><memoryInfo><sizeInMiB>16384</sizeInMiB></memoryInfo></item>"
			   "<item><instanceType>x.huge</instanceType><vCpuInfo><defaultVCpus>4096</defaultVCpus>"
			   "</vCpuInfo><memoryInfo><sizeInMiB>1024</sizeInMiB></memoryInfo></item>"
			   "<item><instanceType>x.neg</instanceType><vCpuInfo><defaultVCpus>-2</defaultVCpus>"
			   "</vCpuInfo><memoryInfo><sizeInMiB>1024</sizeInMiB></memoryInfo></item>"
			   "<item><instanceType>x.nomem</instanceType><vCpuInfo><defaultVCpus>2</defaultVCpus>"
			   "</vCpuInfo></item></instanceTypeSet></DescribeInstanceTypesResponse>";
	EXPECT(type_of(xml, "m5.xlarge", &m, &err) == 0 && m.vcpus == 4 && m.memory_mib == 16384);
	EXPECT(type_of(xml, "x.huge", &m, &err) == EP_ERUNTIME && strstr(err.msg, "no vCPUs and memory for x.huge"));
	EXPECT(type_of(xml, "x.neg", &m, &err) == EP_ERUNTIME);
	EXPECT(type_of(xml, "x.nomem", &m, &err) == EP_ERUNTIME);
	EXPECT(type_of(xml, "t3.micro", &m, &err) == EP_ERUNTIME);
	EXPECT(type_of(xml, "m5.xlarge']|//*['", &m, &err) == EP_ERUNTIME);
}
