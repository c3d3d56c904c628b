/*
 * An Azure Resource Manager client for what a capture of a managed disk or a VM needs:
 * an Azure AD token by client credentials (a service principal's AZURE_TENANT_ID,
 * AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, AZURE_AUTHORITY_HOST, as azure-identity reads
 * them), a disk's read SAS granted (beginGetAccess, a long-running operation polled
 * through Azure-AsyncOperation or Location) and revoked (endGetAccess), a VM read and its
 * size's vCPUs and memory. Neither the secret, the token nor the SAS goes in a message.
 */
#ifndef EP_AZURE_ARM_H
#define EP_AZURE_ARM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/http.h"

#define EP_ARM_ENDPOINT "https://management.azure.com"
#define EP_ARM_DISKS_API "2023-10-02"
#define EP_ARM_VMS_API "2024-07-01"

struct ep_arm_options {
	struct ep_http_options http;
	const char *endpoint; /* the management endpoint; NULL: EP_ARM_ENDPOINT */
	unsigned timeout_minutes; /* how long a long-running operation may take; 0: 10 */
	bool dry;                 /* a dry run: no credential needed, nothing sent */
};

struct ep_arm;

/* EP_EINPUT when the service principal's variables are missing (unless dry). */
int ep_arm_open(struct ep_arm **out, const struct ep_arm_options *opt, struct ep_error *err);
void ep_arm_close(struct ep_arm *arm);
/* Requests sent so far, the token's included. */
uint64_t ep_arm_requests(const struct ep_arm *arm);

/* "/subscriptions/S/resourceGroups/G/providers/Microsoft.Compute/TYPE/NAME" (as the portal
 * and az give it, any case for the fixed words), TYPE "disks" or "virtualMachines". */
struct ep_arm_id {
	char subscription[64], group[100], type[20], name[100];
};
int ep_arm_id_parse(const char *id, struct ep_arm_id *out, struct ep_error *err);
/* The id in its canonical spelling. */
void ep_arm_id_text(const struct ep_arm_id *id, char *buf, size_t cap);

/* Grants read access to a managed disk for seconds and waits for the SAS URL (heap; free
 * it, cleansed). *begun is set once Azure took the grant: revoke it then, whatever follows. */
int ep_arm_grant(struct ep_arm *arm, const struct ep_arm_id *disk, unsigned seconds, bool *begun, char **sas_url,
		 struct ep_error *err);
/* Revokes it and waits for the revocation to complete. */
int ep_arm_revoke(struct ep_arm *arm, const struct ep_arm_id *disk, struct ep_error *err);

/* Azure's limit on a VM's data disks (the largest sizes take 64), and their luns 0 to 63. */
#define EP_ARM_DATA_DISKS_MAX 64

/* A data disk: its managed disk's id, its lun. */
struct ep_arm_data_disk {
	struct ep_arm_id id;
	unsigned lun;
};

/* What a VM's definition says of it. */
struct ep_arm_vm {
	char location[64], size[64], os_type[16]; /* os_type: "linux", "windows" or "" */
	char os_disk[400];                          /* the OS disk's managed disk id */
	bool uefi;
	int secure_boot; /* 1, 0, or -1 when unsaid */
	struct ep_arm_data_disk data[EP_ARM_DATA_DISKS_MAX]; /* storageProfile.dataDisks, by lun */
	size_t ndata;
};
/* Its data disks too when data_disks (else ndata 0); EP_EINPUT naming the disk when the OS
 * disk or such a data disk is no managed disk (an unmanaged VHD, vhd.uri). */
int ep_arm_vm_get(struct ep_arm *arm, const struct ep_arm_id *vm, bool data_disks, struct ep_arm_vm *out,
		  struct ep_error *err);
/* The vCPUs and memory of VM size `size` in location (Virtual Machine Sizes - List). */
int ep_arm_vm_size(struct ep_arm *arm, const char *subscription, const char *location, const char *size,
		   unsigned *vcpus, uint64_t *memory_mib, struct ep_error *err);

/* Dry run: hands emit the requests capturing disk (and, when vm is set, reading the VM
 * first, then its data disks' when data_disks) would send, secret and token masked,
 * `reads` (a note of the blob reads) between each grant and its revocation; sends nothing. */
int ep_arm_plan(struct ep_arm *arm, const struct ep_arm_id *vm, const struct ep_arm_id *disk, bool data_disks,
		unsigned seconds, const char *reads, void (*emit)(void *ctx, const char *text), void *ctx,
		struct ep_error *err);

#endif
