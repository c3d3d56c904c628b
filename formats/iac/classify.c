#include "formats/iac/classify.h"

#include <string.h>
#include <strings.h>

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

static bool ends_with(const char *s, const char *suffix, bool any_case)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && !(any_case ? strcasecmp(s + n - k, suffix) : strcmp(s + n - k, suffix));
}

static bool starts_with(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

static bool one_of(const char *s, const char *const *names)
{
	for (; *names; names++)
		if (!strcmp(s, *names))
			return true;
	return false;
}

const char *ep_iac_prune(const char *path)
{
	return !strcmp(base_name(path), ".terraform") ? "Terraform's provider and module cache, which 'terraform init' downloads again"
						      : NULL;
}

bool ep_iac_is_yaml(const char *path)
{
	const char *base = base_name(path);
	bool kube_dir = base - path >= 6 && !strncmp(base - 6, ".kube/", 6) && (base - path == 6 || base[-7] == '/');
	return ends_with(path, ".yaml", false) || ends_with(path, ".yml", false) || !strcmp(base, "kubeconfig") ||
	       ends_with(base, ".kubeconfig", false) || (kube_dir && !strcmp(base, "config"));
}

/* Whether path lies in chart directory `chart` ("" for the root), below `sub` when given. */
static bool in_chart(const char *path, const char *chart, const char *sub)
{
	size_t n = strlen(chart);
	if (n && (strncmp(path, chart, n) != 0 || path[n] != '/'))
		return false;
	return starts_with(path + (n ? n + 1 : 0), sub);
}

enum ep_file_kind ep_iac_kind_by_name(const char *path, const char *const *charts, size_t ncharts)
{
	static const char *const kustomization[] = { "kustomization.yaml", "kustomization.yml", "Kustomization", NULL };
	static const char *const cloud_init[] = { "user-data", "meta-data", NULL };
	const char *base = base_name(path);
	if (!strcmp(base, ".terraform.lock.hcl"))
		return EP_KIND_TERRAFORM_LOCK;
	if (strstr(base, ".tfstate")) /* terraform.tfstate, *.tfstate.backup, *.tfstate.<time>.backup */
		return EP_KIND_TERRAFORM_STATE;
	if (ends_with(base, ".tf.json", false))
		return EP_KIND_TERRAFORM_JSON;
	if (ends_with(base, ".tf", false))
		return EP_KIND_TERRAFORM;
	if (ends_with(base, ".tfvars", false) || ends_with(base, ".tfvars.json", false))
		return EP_KIND_TERRAFORM_VARS;
	if (!strcmp(base, "Vagrantfile"))
		return EP_KIND_VAGRANTFILE;
	if (one_of(base, kustomization))
		return EP_KIND_KUSTOMIZATION;
	if (!strcmp(base, "Chart.yaml"))
		return EP_KIND_HELM_CHART;
	for (size_t i = 0; i < ncharts; i++)
		if (in_chart(path, charts[i], "templates/"))
			return EP_KIND_HELM_TEMPLATE;
	for (size_t i = 0; i < ncharts && starts_with(base, "values") && ep_iac_is_yaml(base); i++)
		if (in_chart(path, charts[i], ""))
			return EP_KIND_HELM_VALUES;
	if (one_of(base, cloud_init))
		return EP_KIND_CLOUD_INIT;
	return EP_KIND_OTHER;
}

bool ep_iac_is_cloud_config(const char *head, size_t n)
{
	static const char magic[] = "#cloud-config";
	return n >= sizeof magic - 1 && !memcmp(head, magic, sizeof magic - 1);
}

const char *ep_iac_secret_head(const char *head, size_t n)
{
	/* a zip local file header: the name's length at 26, the name at 30; terraform writes tfplan first */
	static const char zip[] = "PK\3\4", name[] = "tfplan";
	if (n >= 30 + sizeof name - 1 && !memcmp(head, zip, 4) && head[26] == (char)(sizeof name - 1) && !head[27] &&
	    !memcmp(head + 30, name, sizeof name - 1))
		return "it is a Terraform plan, which holds the values of secrets";
	return NULL;
}

const char *ep_iac_secret_name(const char *path, enum ep_file_kind kind)
{
	static const char *const key_suffixes[] = { ".pem", ".key", ".p12", ".pfx", NULL };
	static const char *const ssh_keys[] = { "id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", NULL };
	static const char *const templates[] = { ".example", ".sample", ".template", NULL };
	const char *base = base_name(path);
	if (kind == EP_KIND_TERRAFORM_STATE)
		return "Terraform state holds secrets";
	if (ends_with(base, ".tfplan", false))
		return "it is a Terraform plan, which holds the values of secrets";
	for (const char *const *s = key_suffixes; *s; s++)
		if (ends_with(base, *s, true))
			return "it may hold a private key";
	for (const char *const *s = ssh_keys; *s; s++)
		if (starts_with(base, *s) && !ends_with(base, ".pub", false))
			return "it looks like an SSH private key";
	if (!strcmp(base, ".env") || starts_with(base, ".env.")) {
		bool is_template = false;
		for (const char *const *s = templates; *s; s++)
			is_template |= ends_with(base, *s, false);
		if (!is_template)
			return "it holds environment variables, often secrets";
	}
	if (kind == EP_KIND_TERRAFORM_VARS && strcasestr(base, "secret"))
		return "its name says it holds secrets";
	return NULL;
}
