/*
 * hyperv:DIR — each machine as a PowerShell script DIR/NAME.ps1 that creates
 * it on a Hyper-V host (New-VM, generation 1 for BIOS and 2 for UEFI, Secure Boot
 * on or off as the machine had it), its disks as VHDX files beside it: the dir
 * target, writing machines as scripts.
 * Every value in the script passed the machine model's checks (names of
 * [A-Za-z0-9._-] only), so none can break out of its quotes.
 */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/vm/libvirt_xml.h"
#include "targets/target.h"

static int render_ps1(const struct ep_machine *m, const struct ep_vm_target_disk *disks, const char *domain_type,
		      char **out, size_t *len, struct ep_error *err)
{
	(void)domain_type;
	FILE *f = open_memstream(out, len);
	if (!f)
		return ep_oom(err);
	bool uefi = !strcmp(m->firmware, "uefi");
	fprintf(f, "# Creates the virtual machine '%s' restored by envpack. Run it in an elevated\n"
		   "# PowerShell on the Hyper-V host, from the directory that holds its disks.\n"
		   "$ErrorActionPreference = 'Stop'\n"
		   "$here = Split-Path -Parent $MyInvocation.MyCommand.Path\n"
		   "$vm = New-VM -Name '%s' -Generation %d -MemoryStartupBytes %lluMB -NoVHD\n"
		   "Set-VMProcessor -VM $vm -Count %u",
		m->name, m->name, uefi ? 2 : 1, (unsigned long long)m->memory_mib, m->vcpus);
	if (m->limits.cpu_shares) /* libvirt's default weight is 1024, Hyper-V's 100 */
		fprintf(f, " -RelativeWeight %llu",
			(unsigned long long)(m->limits.cpu_shares * 100 / 1024 < 1 ? 1
					     : m->limits.cpu_shares * 100 / 1024 > 10000 ? 10000
											 : m->limits.cpu_shares * 100 / 1024));
	if (m->limits.cpu_quota_us && m->limits.cpu_period_us) {
		unsigned long long pct = m->limits.cpu_quota_us * 100 / m->limits.cpu_period_us / m->vcpus;
		fprintf(f, " -Maximum %llu", pct < 1 ? 1 : pct > 100 ? 100 : pct);
	}
	fputc('\n', f);
	if (m->limits.memory_limit_mib && m->limits.memory_limit_mib >= m->memory_mib)
		fprintf(f, "Set-VMMemory -VM $vm -DynamicMemoryEnabled $true -MinimumBytes %lluMB -MaximumBytes %lluMB\n",
			(unsigned long long)m->memory_mib, (unsigned long long)m->limits.memory_limit_mib);
	for (size_t i = 0; i < m->ndisks; i++) {
		char *copy = strdup(disks[i].path);
		/* generation 1 boots from IDE only; generation 2 has SCSI only */
		fprintf(f, "Add-VMHardDiskDrive -VM $vm -ControllerType %s -Path (Join-Path $here '%s')\n",
			!uefi && i < 2 ? "IDE" : "SCSI", copy ? basename(copy) : "?");
		free(copy);
	}
	fputs("Get-VMNetworkAdapter -VM $vm | Remove-VMNetworkAdapter\n", f);
	for (size_t i = 0; i < m->nnics; i++) {
		fprintf(f, "Add-VMNetworkAdapter -VM $vm -SwitchName '%s'", m->nics[i].network ? m->nics[i].network : "Default Switch");
		if (m->nics[i].mac) {
			char mac[13] = "";
			for (int k = 0, j = 0; k < 17; k++)
				if (m->nics[i].mac[k] != ':')
					mac[j++] = (char)(m->nics[i].mac[k] >= 'a' ? m->nics[i].mac[k] - 'a' + 'A' : m->nics[i].mac[k]);
			fprintf(f, " -StaticMacAddress '%s'", mac);
		}
		fputc('\n', f);
	}
	if (uefi) {
		fputs("Set-VMFirmware -VM $vm -FirstBootDevice (Get-VMHardDiskDrive -VM $vm)[0]", f);
		/* generation 2 enforces Secure Boot unless told not to */
		if (m->secure_boot == EP_SECURE_BOOT_OFF)
			fputs(" -EnableSecureBoot Off", f);
		else if (m->secure_boot == EP_SECURE_BOOT_ON)
			fputs(" -EnableSecureBoot On", f);
		/* Linux guests boot with the third-party UEFI CA, Windows with Microsoft's own */
		if (m->secure_boot != EP_SECURE_BOOT_OFF && strcmp(m->os, "windows"))
			fputs(" -SecureBootTemplate MicrosoftUEFICertificateAuthority", f);
		fputc('\n', f);
	}
	fprintf(f, "Write-Host \"created $($vm.Name); start it with Start-VM -Name '%s'\"\n", m->name);
	if (fclose(f) != 0)
		return ep_oom(err);
	return 0;
}

static const struct ep_machine_format ps1 = { "ps1", render_ps1 };

static int hyperv_open(struct ep_target **out, const char *location, const struct ep_target_options *opt,
		       struct ep_error *err)
{
	struct ep_target_options o = *opt;
	if (!o.disk_format)
		o.disk_format = "vhdx";
	o.machine_format = &ps1;
	return ep_target_dir.open(out, location, &o, err); /* a dir target from here on */
}

const struct ep_target_ops ep_target_hyperv = {
	.scheme = "hyperv",
	.summary = "machines as PowerShell scripts (New-VM) with VHDX disks beside them",
	.machines = true,
	.open = hyperv_open,
};
