#include "drill/guest.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/util.h"

#define ARGS_MAX 128
#define OVMF_CODE "/usr/share/OVMF/OVMF_CODE.fd"
#define OVMF_VARS "/usr/share/OVMF/OVMF_VARS.fd"
/* With Secure Boot, what libvirt picks for it on Debian (qemu/firmware/40-edk2-x86_64-
 * secure-enrolled.json): the Secure Boot build and a variable store with Microsoft's keys
 * enrolled, so only boot loaders signed with them run, as on the machine restored there. */
#define OVMF_SB_CODE "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"
#define OVMF_SB_VARS "/usr/share/OVMF/OVMF_VARS_4M.ms.fd"
/* What OVMF prints when it has tried every boot option; it then waits for a key, forever. */
#define OVMF_GAVE_UP "BdsDxe: No bootable option or device was found."

struct args {
	char *v[ARGS_MAX + 1];
	size_t n;
	bool oom;
};

__attribute__((format(printf, 2, 3))) static void add(struct args *a, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	va_start(ap, fmt);
	if (a->n == ARGS_MAX || vasprintf(&s, fmt, ap) < 0)
		a->oom = true, s = NULL;
	va_end(ap);
	if (s)
		a->v[a->n++] = s;
}

static void free_args(struct args *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i]);
}

/* qemu's machine type: the model's when it is one qemu knows by family, else pc. */
static const char *machine_type(const struct ep_machine *m)
{
	return ep_machine_q35(m) ? "q35" : "pc";
}

static const char *nic_device(const char *model)
{
	const char *const map[][2] = { { "virtio", "virtio-net-pci" }, { "e1000", "e1000" }, { "e1000e", "e1000e" },
				       { "rtl8139", "rtl8139" },       { "vmxnet3", "vmxnet3" } };
	for (size_t i = 0; model && i < sizeof map / sizeof *map; i++)
		if (!strcmp(model, map[i][0]))
			return map[i][1];
	return "e1000";
}

/* Disk i on its bus: the controller a bus needs is added once, before its first disk. */
static void add_disk(struct args *a, const struct ep_vm_disk *d, size_t i, const char *overlay, bool q35,
		     unsigned *ide, unsigned *sata, bool *ahci, bool *scsi)
{
	bool cd = d->device && !strcmp(d->device, "cdrom");
	const char *bus = d->bus ? d->bus : "ide";
	if (q35 && !strcmp(bus, "sata")) /* q35's own AHCI: six ports, ide.0 to ide.5 */
		bus = "ide";
	char boot[32] = "";
	if (d->boot)
		snprintf(boot, sizeof boot, ",bootindex=%u", d->boot);
	bool *controller = !strcmp(bus, "scsi") ? scsi : !strcmp(bus, "sata") ? ahci : NULL;
	if (controller && !*controller) {
		add(a, "-device");
		add(a, "%s", controller == scsi ? "virtio-scsi-pci,id=scsi0" : "ahci,id=ahci0");
		*controller = true;
	}
	add(a, "-drive");
	add(a, "file=%s,format=qcow2,if=none,id=d%zu%s", overlay, i, cd ? ",readonly=on" : "");
	add(a, "-device");
	if (!strcmp(bus, "virtio") && !cd)
		add(a, "virtio-blk-pci,drive=d%zu%s", i, boot);
	else if (!strcmp(bus, "nvme") && !cd)
		add(a, "nvme,drive=d%zu,serial=d%zu%s", i, i, boot);
	else if (!strcmp(bus, "scsi"))
		add(a, "%s,drive=d%zu,bus=scsi0.0%s", cd ? "scsi-cd" : "scsi-hd", i, boot);
	else if (!strcmp(bus, "sata"))
		add(a, "%s,drive=d%zu,bus=ahci0.%u%s", cd ? "ide-cd" : "ide-hd", i, (*sata)++, boot);
	else if (q35)
		add(a, "%s,drive=d%zu,bus=ide.%u%s", cd ? "ide-cd" : "ide-hd", i, (*ide)++, boot);
	else { /* pc's IDE: two buses of two units */
		add(a, "%s,drive=d%zu,bus=ide.%u,unit=%u%s", cd ? "ide-cd" : "ide-hd", i, *ide / 2, *ide % 2, boot);
		(*ide)++;
	}
}

/* OVMF's code there, and a copy of its variable store template at vars for the guest to write. */
static int copy_vars(const char *code, const char *template, const char *vars, struct ep_error *err)
{
	char *text = NULL;
	size_t len;
	if (access(code, R_OK))
		return ep_fail_errno(err, EP_ERUNTIME, "cannot read '%s'", code);
	int rc = ep_read_file(template, 16 << 20, &text, &len, err);
	if (!rc) {
		FILE *f = fopen(vars, "wb");
		bool ok = f && fwrite(text, 1, len, f) == len;
		if (f && fclose(f)) /* closed whatever the write did */
			ok = false;
		rc = ok ? 0 : ep_fail_errno(err, EP_ERUNTIME, "cannot write '%s'", vars);
	}
	free(text);
	return rc;
}

static int build(struct args *a, struct ep_guest *g, const struct ep_machine *m, char *const *overlays, const char *dir,
		 const struct ep_guest_forward *fwd, size_t nfwd, struct ep_error *err)
{
	add(a, "qemu-system-x86_64");
	add(a, "-name");
	add(a, "envpack-drill-%s", m->name);
	bool secure = m->secure_boot == EP_SECURE_BOOT_ON;
	add(a, "-machine");
	add(a, "%s%s", machine_type(m), secure ? ",smm=on" : ""); /* Secure Boot's variables only SMM may write */
	add(a, "-accel");
	add(a, "%s", g->kvm ? "kvm" : "tcg");
	add(a, "-m");
	add(a, "%llu", (unsigned long long)(m->memory_mib ? m->memory_mib : 512));
	add(a, "-smp");
	add(a, "%u", m->vcpus ? m->vcpus : 1);
	add(a, "-display");
	add(a, "none");
	add(a, "-monitor");
	add(a, "none");
	add(a, "-serial");
	add(a, "file:%s", g->serial);
	/* SeaBIOS finding nothing to boot halts (qemu's default) or reboots after reboot-timeout
	 * ms: at once, and -no-reboot ends qemu, so the drill fails then, not at its timeout */
	add(a, "-boot");
	add(a, "reboot-timeout=0");
	add(a, "-no-reboot");
	if (m->firmware && !strcmp(m->firmware, "uefi")) {
		char vars[PATH_MAX];
		if (ep_path_format(vars, sizeof vars, err, "%s/OVMF_VARS.fd", dir))
			return err->code;
		const char *code = secure ? OVMF_SB_CODE : OVMF_CODE;
		if (copy_vars(code, secure ? OVMF_SB_VARS : OVMF_VARS, vars, err)) {
			char why[sizeof err->msg]; /* err->msg is no argument for a message written into it */
			snprintf(why, sizeof why, "%s", err->msg);
			return ep_fail(err, EP_ERUNTIME, "machine '%s' boots UEFI%s: %s (apt-get install ovmf)", m->name,
				       secure ? " with Secure Boot" : "", why);
		}
		if (secure) {
			add(a, "-global");
			add(a, "driver=cfi.pflash01,property=secure,value=on");
		}
		add(a, "-drive");
		add(a, "if=pflash,format=raw,readonly=on,file=%s", code);
		add(a, "-drive");
		add(a, "if=pflash,format=raw,file=%s", vars);
	}
	unsigned ide = 0, sata = 0;
	bool ahci = false, scsi = false;
	for (size_t i = 0; i < m->ndisks; i++)
		add_disk(a, &m->disks[i], i, overlays[i], !strcmp(machine_type(m), "q35"), &ide, &sata, &ahci, &scsi);
	char forwards[512] = "";
	for (size_t i = 0, at = 0; i < nfwd && at < sizeof forwards; i++)
		at += (size_t)snprintf(forwards + at, sizeof forwards - at, ",hostfwd=tcp:127.0.0.1:%u-:%u", fwd[i].host,
				       fwd[i].guest);
	size_t nics = m->nnics ? m->nnics : nfwd ? 1 : 0;
	for (size_t i = 0; i < nics; i++) {
		const struct ep_vm_nic *n = i < m->nnics ? &m->nics[i] : NULL;
		add(a, "-netdev");
		add(a, "user,id=n%zu,restrict=on%s", i, i == 0 ? forwards : "");
		add(a, "-device");
		add(a, "%s,netdev=n%zu%s%s", nic_device(n ? n->model : NULL), i, n && n->mac ? ",mac=" : "",
		    n && n->mac ? n->mac : "");
	}
	if (!nics) {
		add(a, "-nic");
		add(a, "none");
	}
	return a->oom ? ep_oom(err) : 0;
}

int ep_guest_start(struct ep_guest *g, const struct ep_machine *m, char *const *overlays, const char *dir,
		   const struct ep_guest_forward *fwd, size_t nfwd, struct ep_error *err)
{
	*g = (struct ep_guest){ .kvm = !ep_kvm_why_not() };
	struct args a = { 0 };
	int rc = ep_path_format(g->serial, sizeof g->serial, err, "%s/serial.log", dir) ||
				 ep_path_format(g->log, sizeof g->log, err, "%s/qemu.log", dir)
			 ? err->code
			 : build(&a, g, m, overlays, dir, fwd, nfwd, err);
	int logfd = rc ? -1 : open(g->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (!rc && logfd < 0)
		rc = ep_fail_errno(err, EP_ERUNTIME, "cannot create '%s'", g->log);
	pid_t parent = getpid();
	if (!rc && (g->pid = fork()) < 0)
		rc = ep_fail_errno(err, EP_ERUNTIME, "cannot start qemu");
	if (!rc && g->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* a drill killed with SIGKILL leaves no guest running */
		if (getppid() != parent)
			_exit(1);
		dup2(logfd, STDOUT_FILENO);
		dup2(logfd, STDERR_FILENO);
		setsid();
		execvp(a.v[0], a.v);
		_exit(127);
	}
	if (logfd >= 0)
		close(logfd);
	free_args(&a);
	return rc;
}

bool ep_guest_running(struct ep_guest *g, char *why, size_t cap)
{
	int status;
	if (g->pid <= 0)
		return false;
	if (waitpid(g->pid, &status, WNOHANG) != g->pid)
		return true;
	g->pid = 0;
	char *text = NULL;
	size_t len = 0;
	struct ep_error ignored = { 0 };
	ep_read_file(g->log, 1 << 16, &text, &len, &ignored);
	while (len && text[len - 1] == '\n')
		text[--len] = 0;
	const char *line = text ? strrchr(text, '\n') : NULL;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		snprintf(why, cap, "cannot run qemu-system-x86_64 (apt-get install qemu-system-x86)");
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) /* -no-reboot: a reboot ends qemu too */
		snprintf(why, cap, "the guest powered off or rebooted (a BIOS that finds no bootable disk reboots)");
	else
		snprintf(why, cap, "qemu ended (%s %d)%s%s", WIFEXITED(status) ? "exit" : "signal",
			 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), text && *text ? ": " : "",
			 line ? line + 1 : text ? text : "");
	free(text);
	return false;
}

bool ep_guest_gave_up(const char *console, char *why, size_t cap)
{
	if (!strstr(console, OVMF_GAVE_UP))
		return false;
	const char *refused = strstr(console, "Access Denied") ? "Access Denied"
			      : strstr(console, "Security Violation") ? "Security Violation"
								       : NULL;
	snprintf(why, cap, "UEFI found nothing it could boot%s%s%s", refused ? " (Secure Boot refused the boot loader: " : "",
		 refused ? refused : "", refused ? ")" : "");
	return true;
}

void ep_guest_stop(struct ep_guest *g)
{
	const struct timespec tick = { 0, 20 * 1000 * 1000 };
	if (g->pid <= 0)
		return;
	kill(g->pid, SIGTERM);
	for (int i = 0; i < 150; i++) {
		if (waitpid(g->pid, NULL, WNOHANG) == g->pid) {
			g->pid = 0;
			return;
		}
		nanosleep(&tick, NULL);
	}
	kill(g->pid, SIGKILL);
	waitpid(g->pid, NULL, 0);
	g->pid = 0;
}
