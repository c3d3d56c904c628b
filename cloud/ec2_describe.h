/*
 * What EC2 says of an AMI (DescribeImages) or of an instance (DescribeInstances, then
 * DescribeInstanceTypes for its type's size): what a captured machine is made from.
 */
#ifndef EP_EC2_DESCRIBE_H
#define EP_EC2_DESCRIBE_H

#include <stdint.h>

#include "cloud/ec2.h"

/* Texts printable, bounded, "" where EC2 says nothing. */
struct ep_ec2_machine {
	char name[256];         /* the AMI's Name; the instance's Name tag */
	char boot_mode[32];     /* legacy-bios, uefi, uefi-preferred (an instance: the mode it booted in) */
	char architecture[32];  /* i386, x86_64, arm64, ... */
	char platform[128];     /* PlatformDetails ("Linux/UNIX", "Windows"), else Platform ("windows") */
	char instance_type[64]; /* an instance's ("t3.micro"), checked: [a-z0-9.-] */
	unsigned vcpus;         /* an instance's type: VCpuInfo.DefaultVCpus; else 0 */
	uint64_t memory_mib;    /* an instance's type: MemoryInfo.SizeInMiB; else 0 */
};

/* An id EC2 does not know (its InvalidAMIID.* / InvalidInstanceID.* codes, or an answer
 * without it) is EP_EINPUT; other refusals EP_ERUNTIME naming the call and AWS's code. */
int ep_ec2_describe_image(struct ep_ec2 *ec2, const char *ami, struct ep_ec2_machine *out, struct ep_error *err);
int ep_ec2_describe_instance(struct ep_ec2 *ec2, const char *instance, struct ep_ec2_machine *out,
			     struct ep_error *err);

/* The same from answers already read (public for the unit tests and the fuzz target):
 * DescribeImages' about ami and DescribeInstances' about instance (its type then in
 * out->instance_type), each filling out afresh; DescribeInstanceTypes' about type, only
 * out's vCPUs (at most 1024) and memory (at most 16 TiB), as pack's options bound them. */
int ep_ec2_image_from(struct ep_xml *x, const char *ami, struct ep_ec2_machine *out, struct ep_error *err);
int ep_ec2_instance_from(struct ep_xml *x, const char *instance, struct ep_ec2_machine *out, struct ep_error *err);
int ep_ec2_type_from(struct ep_xml *x, const char *type, struct ep_ec2_machine *out, struct ep_error *err);

#endif
