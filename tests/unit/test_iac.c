#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/iac/classify.h"
#include "formats/iac/k8s.h"
#include "tests/unit/unit.h"

static enum ep_file_kind kind(const char *path)
{
	static const char *const charts[] = { "", "deploy/web" };
	return ep_iac_kind_by_name(path, charts + 1, 1);
}

TEST(classify_by_name)
{
	EXPECT(kind("main.tf") == EP_KIND_TERRAFORM);
	EXPECT(kind("modules/net/main.tf.json") == EP_KIND_TERRAFORM_JSON);
	EXPECT(kind("prod.tfvars") == EP_KIND_TERRAFORM_VARS && kind("x.auto.tfvars.json") == EP_KIND_TERRAFORM_VARS);
	EXPECT(kind(".terraform.lock.hcl") == EP_KIND_TERRAFORM_LOCK);
	EXPECT(kind("terraform.tfstate") == EP_KIND_TERRAFORM_STATE && kind("a/terraform.tfstate.backup") == EP_KIND_TERRAFORM_STATE);
	EXPECT(kind("kustomization.yaml") == EP_KIND_KUSTOMIZATION && kind("o/kustomization.yml") == EP_KIND_KUSTOMIZATION);
	EXPECT(kind("deploy/web/Chart.yaml") == EP_KIND_HELM_CHART);
	EXPECT(kind("deploy/web/values.yaml") == EP_KIND_HELM_VALUES && kind("deploy/web/values-prod.yml") == EP_KIND_HELM_VALUES);
	EXPECT(kind("deploy/web/templates/deployment.yaml") == EP_KIND_HELM_TEMPLATE);
	EXPECT(kind("deploy/web/templates/_helpers.tpl") == EP_KIND_HELM_TEMPLATE);
	EXPECT(kind("deploy/webx/templates/a.yaml") == EP_KIND_OTHER);  /* not the chart's directory */
	EXPECT(kind("values.yaml") == EP_KIND_OTHER);                    /* not in a chart */
	EXPECT(kind("Vagrantfile") == EP_KIND_VAGRANTFILE && kind("vm/Vagrantfile") == EP_KIND_VAGRANTFILE);
	EXPECT(kind("seed/user-data") == EP_KIND_CLOUD_INIT && kind("meta-data") == EP_KIND_CLOUD_INIT);
	EXPECT(kind("README.md") == EP_KIND_OTHER && kind("main.tf.bak") == EP_KIND_OTHER);
	static const char *const root_chart[] = { "" };
	EXPECT(ep_iac_kind_by_name("templates/svc.yaml", root_chart, 1) == EP_KIND_HELM_TEMPLATE);
	EXPECT(ep_iac_kind_by_name("values.yaml", root_chart, 1) == EP_KIND_HELM_VALUES);
	EXPECT(ep_iac_is_yaml("a.yaml") && ep_iac_is_yaml("b.yml") && !ep_iac_is_yaml("c.json"));
	EXPECT(ep_iac_is_yaml("kubeconfig") && ep_iac_is_yaml("ci/prod.kubeconfig") && ep_iac_is_yaml(".kube/config") &&
	       ep_iac_is_yaml("home/.kube/config"));
	EXPECT(!ep_iac_is_yaml("config") && !ep_iac_is_yaml("a.kube/config") && !ep_iac_is_yaml(".kube/config.bak"));
	EXPECT(ep_iac_is_cloud_config("#cloud-config\n", 14) && !ep_iac_is_cloud_config("#cloud-conf", 11));
	EXPECT(ep_iac_prune(".terraform") && ep_iac_prune("a/b/.terraform") && !ep_iac_prune("terraform"));
}

TEST(classify_secret_names)
{
	EXPECT(ep_iac_secret_name("terraform.tfstate", EP_KIND_TERRAFORM_STATE) != NULL);
	EXPECT(ep_iac_secret_name("certs/tls.KEY", EP_KIND_OTHER) && ep_iac_secret_name("ca.pem", EP_KIND_OTHER));
	EXPECT(ep_iac_secret_name("a.p12", EP_KIND_OTHER) && ep_iac_secret_name("b.pfx", EP_KIND_OTHER));
	EXPECT(ep_iac_secret_name("id_rsa", EP_KIND_OTHER) && ep_iac_secret_name(".ssh/id_ed25519", EP_KIND_OTHER));
	EXPECT(!ep_iac_secret_name("id_rsa.pub", EP_KIND_OTHER));
	EXPECT(ep_iac_secret_name(".env", EP_KIND_OTHER) && ep_iac_secret_name("app/.env.production", EP_KIND_OTHER));
	EXPECT(!ep_iac_secret_name(".env.example", EP_KIND_OTHER) && !ep_iac_secret_name("x.env", EP_KIND_OTHER));
	EXPECT(ep_iac_secret_name("prod-Secrets.tfvars", EP_KIND_TERRAFORM_VARS) != NULL);
	EXPECT(!ep_iac_secret_name("prod.tfvars", EP_KIND_TERRAFORM_VARS));
	EXPECT(!ep_iac_secret_name("secret.tf", EP_KIND_TERRAFORM) && !ep_iac_secret_name("keys.tf", EP_KIND_TERRAFORM));
	EXPECT(ep_iac_secret_name("plans/prod.tfplan", EP_KIND_OTHER) && !ep_iac_secret_name("tfplan.md", EP_KIND_OTHER));
	/* a Terraform plan by its first bytes: a zip local header naming tfplan */
	static const char plan[] = "PK\3\4\24\0\10\0\10\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\6\0\0\0tfplan",
			  other[] = "PK\3\4\24\0\10\0\10\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\6\0\0\0readme";
	EXPECT(ep_iac_secret_head(plan, sizeof plan - 1) && !ep_iac_secret_head(plan, sizeof plan - 2));
	EXPECT(!ep_iac_secret_head(other, sizeof other - 1) && !ep_iac_secret_head("#cloud-config\n", 14));
}

static int read_yaml(const char *src, struct ep_inventory *inv, struct ep_yaml_facts *facts, struct ep_error *err)
{
	return ep_k8s_read(src, strlen(src), "k.yaml", "t/k.yaml", inv, facts, err);
}

TEST(k8s_objects_images_and_merges)
{
	static const char src[] = "# a comment\n"
				  "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: web\n"
				  "---\n"
				  "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api, namespace: web}\n"
				  "x-defaults: &c {image: \"base:1\", name: c}\n"
				  "spec:\n  template:\n    spec:\n      initContainers:\n      - {name: i, image: init:2}\n"
				  "      containers:\n      - <<: *c\n      - {<<: *c, image: 'own:3'}\n      - {name: n, image: ~}\n"
				  "---\n"
				  "---\n"
				  "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: cj, name: last}\n"
				  "spec: {jobTemplate: {spec: {template: {spec: {containers: [{image: cron:4}]}}}}}\n"
				  "---\n"
				  "[not, a, mapping]\n"
				  "---\n"
				  "kind: NoApiVersion\n";
	struct ep_inventory *inv = ep_inventory_new();
	struct ep_yaml_facts facts;
	struct ep_error err = { 0 };
	EXPECT(read_yaml(src, inv, &facts, &err) == 0 && !*facts.invalid);
	EXPECT(facts.objects == 3 && inv->nobjects == 3 && !facts.secret && !facts.heat);
	if (inv->nobjects == 3) {
		const struct ep_k8s_object *o = inv->objects;
		EXPECT(!strcmp(o[0].kind, "Namespace") && !strcmp(o[0].name, "web") && !o[0].namespace && !o[0].images.n);
		EXPECT(!strcmp(o[1].kind, "Deployment") && !strcmp(o[1].namespace, "web") && !strcmp(o[1].path, "k.yaml"));
		EXPECT(o[1].images.n == 3 && !strcmp(o[1].images.v[0], "init:2") && !strcmp(o[1].images.v[1], "base:1") &&
		       !strcmp(o[1].images.v[2], "own:3"));
		/* the last of equal keys wins, as PyYAML reads it */
		EXPECT(!strcmp(o[2].name, "last") && o[2].images.n == 1 && !strcmp(o[2].images.v[0], "cron:4"));
	}
	ep_inventory_free(inv);
}

TEST(k8s_secrets_heat_and_invalid_yaml)
{
	struct ep_inventory *inv = ep_inventory_new();
	struct ep_yaml_facts facts;
	struct ep_error err = { 0 };
	EXPECT(read_yaml("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n", inv, &facts, &err) == 0);
	EXPECT(facts.secret && facts.objects == 1);
	EXPECT(read_yaml("heat_template_version: 2018-08-31\nresources: {}\n", inv, &facts, &err) == 0);
	EXPECT(facts.heat && !facts.objects && !facts.secret);
	size_t before = inv->nobjects;
	/* a Secret read before the syntax error still counts; the objects do not */
	EXPECT(read_yaml("apiVersion: v1\nkind: Secret\n---\napiVersion: v1\nkind: A\n---\na: [b\n", inv, &facts, &err) == 0);
	EXPECT(*facts.invalid && facts.secret && facts.objects == 0 && inv->nobjects == before);
	/* Secrets in a List (kubectl get secret -o yaml), in a List in a List, as a SecretList */
	EXPECT(read_yaml("apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap}\n- {apiVersion: v1, kind: Secret}\n",
			 inv, &facts, &err) == 0 && facts.secret && strstr(facts.secret, "list of Kubernetes Secrets"));
	EXPECT(read_yaml("apiVersion: v1\nkind: List\nitems: [{kind: List, items: [{kind: Secret}]}]\n", inv, &facts, &err) == 0 &&
	       facts.secret);
	EXPECT(read_yaml("apiVersion: v1\nkind: SecretList\nitems: []\n", inv, &facts, &err) == 0 && facts.secret);
	EXPECT(read_yaml("apiVersion: v1\nkind: List\nitems: [{kind: ConfigMap}]\n", inv, &facts, &err) == 0 && !facts.secret);
	/* kubeconfigs: credentials of a user, not the exec plugins that fetch them */
	static const char *const kubeconfigs[] = {
		"apiVersion: v1\nkind: Config\nclusters: []\nusers:\n- name: a\n  user: {client-key-data: a2V5}\n",
		"clusters: []\nusers: [{name: b, user: {token: abc}}]\n",
		"contexts: []\nusers: [{name: c, user: {username: u, password: p}}]\n",
		"clusters: []\nusers: [{user: {auth-provider: {name: oidc, config: {id-token: x}}}}]\n",
	};
	for (size_t i = 0; i < sizeof kubeconfigs / sizeof *kubeconfigs; i++)
		EXPECT(read_yaml(kubeconfigs[i], inv, &facts, &err) == 0 && facts.secret && strstr(facts.secret, "kubeconfig"));
	EXPECT(read_yaml("clusters: []\nusers: [{name: d, user: {exec: {command: kubelogin}}}]\n", inv, &facts, &err) == 0 &&
	       !facts.secret);
	EXPECT(read_yaml("users: [{name: e, user: {token: abc}}]\n", inv, &facts, &err) == 0 && !facts.secret); /* no cluster */
	EXPECT(read_yaml("a: *nowhere\n", inv, &facts, &err) == 0 && strstr(facts.invalid, "undefined alias"));
	EXPECT(read_yaml("", inv, &facts, &err) == 0 && !*facts.invalid && !facts.objects);
	ep_inventory_free(inv);
}

TEST(k8s_refuses_yaml_bombs)
{
	char *src = malloc(1 << 20);
	struct ep_inventory *inv = ep_inventory_new();
	struct ep_yaml_facts facts;
	struct ep_error err = { 0 };
	/* a billion laughs: nine levels of nine aliases each */
	int len = snprintf(src, 64, "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
	for (char c = 'b'; c <= 'i'; c++)
		len += snprintf(src + len, 64, "%c: &%c [*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c]\n", c, c, c - 1, c - 1, c - 1,
			       c - 1, c - 1, c - 1, c - 1, c - 1, c - 1);
	EXPECT(read_yaml(src, inv, &facts, &err) == EP_EINPUT && strstr(err.msg, "'t/k.yaml'") && strstr(err.msg, "alias"));
	/* deep nesting */
	memset(src, '[', 5000);
	memset(src + 5000, ']', 5000);
	src[10000] = '\0';
	EXPECT(read_yaml(src, inv, &facts, &err) == EP_EINPUT && strstr(err.msg, "deeper"));
	/* too many documents */
	src[0] = '\0';
	for (int i = 0, at = 0; i <= EP_YAML_MAX_DOCUMENTS; i++)
		at += snprintf(src + at, 32, "--- %d\n", i);
	EXPECT(read_yaml(src, inv, &facts, &err) == EP_EINPUT && strstr(err.msg, "documents"));
	/* an alias inside the node it names never ends */
	EXPECT(read_yaml("a: &a [1, *a]\n", inv, &facts, &err) == EP_EINPUT);
	/* many aliases of a small node are fine */
	len = snprintf(src, 32, "x: &x {a: 1}\nl: [");
	for (int i = 0; i < 1000; i++)
		len += snprintf(src + len, 8, "*x, ");
	snprintf(src + len, 8, "*x]\n");
	EXPECT(read_yaml(src, inv, &facts, &err) == 0 && !*facts.invalid);
	EXPECT(inv->nobjects == 0);
	ep_inventory_free(inv);
	free(src);
}
