#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/image/reference.h"
#include "targets/retarget.h"
#include "targets/rewrite.h"
#include "tests/unit/unit.h"

static char *moved(const char *ref, const struct ep_rewrite *rules, size_t n)
{
	static char out[600];
	return ep_rewrite_ref(rules, n, ref, strlen(ref), out, sizeof out) ? out : "-";
}

TEST(image_names_normalised)
{
	struct ep_image_name img;
	const char *cases[][4] = {
		/* ref, name, tag, digest */
		{ "nginx", "docker.io/library/nginx", "", "" },
		{ "nginx:1.25", "docker.io/library/nginx", "1.25", "" },
		{ "docker.io/nginx:1.25", "docker.io/library/nginx", "1.25", "" },
		{ "index.docker.io/library/nginx", "docker.io/library/nginx", "", "" },
		{ "registry-1.docker.io/nginx", "docker.io/library/nginx", "", "" },
		{ "bitnami/nginx:1.25.3-debian-12-r0", "docker.io/bitnami/nginx", "1.25.3-debian-12-r0", "" },
		{ "quay.io/prometheus/prometheus", "quay.io/prometheus/prometheus", "", "" },
		{ "localhost:5000/app:v1", "localhost:5000/app", "v1", "" },
		{ "localhost/app", "localhost/app", "", "" },
		{ "registry.k8s.io/ingress-nginx/controller:v1.9.4@sha256:"
		  "5b161f051d017e55d358435f295f5e9a297e66158f136321d9b04520ec6c48a3",
		  "registry.k8s.io/ingress-nginx/controller", "v1.9.4",
		  "sha256:5b161f051d017e55d358435f295f5e9a297e66158f136321d9b04520ec6c48a3" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		EXPECT(ep_image_name_parse(cases[i][0], strlen(cases[i][0]), &img));
		EXPECT(!strcmp(img.name, cases[i][1]) && !strcmp(img.tag, cases[i][2]) && !strcmp(img.digest, cases[i][3]));
	}
	/* no references: expressions (var.image alone is a valid name: HCL tells it apart), templates, placeholders, upper case, URLs, empty */
	const char *not_refs[] = { "image = var.x", "${var.image}", "{{ .Values.image }}", "<image_url>", "Nginx",
				   "https://example.com/x", "", "nginx:", "a//b", "nginx@sha256:ab", "image name" };
	for (size_t i = 0; i < sizeof not_refs / sizeof *not_refs; i++)
		EXPECT(!ep_image_name_parse(not_refs[i], strlen(not_refs[i]), &img));
}

TEST(rewrite_references)
{
	const struct ep_rewrite hub[] = { { "docker.io", "mirror.local:5000/hub" } };
	const struct ep_rewrite quay[] = { { "quay.io/team", "reg.example/team2" } };
	const struct ep_rewrite index[] = { { "index.docker.io", "reg.example" } };
	const struct ep_rewrite one[] = { { "docker.io/library/nginx", "reg.example/mirror/nginx" } };
	/* one image, one place, however it is spelled */
	EXPECT(!strcmp(moved("nginx:1.25", hub, 1), "mirror.local:5000/hub/library/nginx:1.25"));
	EXPECT(!strcmp(moved("docker.io/nginx:1.25", hub, 1), "mirror.local:5000/hub/library/nginx:1.25"));
	EXPECT(!strcmp(moved("index.docker.io/library/nginx:1.25", hub, 1), "mirror.local:5000/hub/library/nginx:1.25"));
	EXPECT(!strcmp(moved("nginx", index, 1), "reg.example/library/nginx"));
	const struct ep_rewrite api[] = { { "registry-1.docker.io/bitnami", "reg.example/b" } };
	EXPECT(!strcmp(moved("bitnami/nginx:1", api, 1), "reg.example/b/nginx:1"));
	EXPECT(!strcmp(moved("bitnami/redis@sha256:5b161f051d017e55d358435f295f5e9a297e66158f136321d9b04520ec6c48a3", hub, 1),
		       "mirror.local:5000/hub/bitnami/redis@sha256:5b161f051d017e55d358435f295f5e9a297e66158f136321d9b04520ec6c48a3"));
	EXPECT(!strcmp(moved("quay.io/team/app:v1", quay, 1), "reg.example/team2/app:v1"));
	EXPECT(!strcmp(moved("quay.io/teams/app:v1", quay, 1), "-")); /* a prefix of a component is no match */
	EXPECT(!strcmp(moved("ghcr.io/x/y:1", hub, 1), "-"));         /* ghcr.io is not Docker Hub */
	EXPECT(!strcmp(moved("nginx:1.25", one, 1), "reg.example/mirror/nginx:1.25"));
	EXPECT(!strcmp(moved("nginx-ingress", one, 1), "-"));

	char reg[256], repo[256];
	EXPECT(ep_rewrite_split(hub, 1, "docker.io", "bitnami/nginx", reg, sizeof reg, repo, sizeof repo));
	EXPECT(!strcmp(reg, "mirror.local:5000") && !strcmp(repo, "hub/bitnami/nginx"));
	EXPECT(ep_rewrite_split(hub, 1, "", "nginx", reg, sizeof reg, repo, sizeof repo));
	EXPECT(!strcmp(reg, "") && !strcmp(repo, "mirror.local:5000/hub/library/nginx"));
	EXPECT(!ep_rewrite_split(hub, 1, "quay.io", "prometheus/prometheus", reg, sizeof reg, repo, sizeof repo));
	const struct ep_rewrite q[] = { { "quay.io", "reg.example/quay" } };
	EXPECT(ep_rewrite_split(q, 1, "quay.io", "prometheus/prometheus", reg, sizeof reg, repo, sizeof repo));
	EXPECT(!strcmp(reg, "reg.example") && !strcmp(repo, "quay/prometheus/prometheus"));

	struct ep_error err = { 0 };
	EXPECT(ep_rewrite_rule_check(&hub[0], &err) == 0);
	EXPECT(ep_rewrite_rule_check(&(struct ep_rewrite){ "docker.io", "mirror" }, &err) == EP_EINPUT);
	EXPECT(strstr(err.msg, "'mirror'") != NULL);
	EXPECT(ep_rewrite_rule_check(&(struct ep_rewrite){ "docker.io", "reg.example/Team" }, &err) == EP_EINPUT);
	EXPECT(ep_rewrite_rule_check(&(struct ep_rewrite){ "bitnami", "reg.example" }, &err) == EP_EINPUT);
}

TEST(rewrite_kinds)
{
	EXPECT(ep_rewrite_applies(EP_KIND_KUBERNETES));
	EXPECT(ep_rewrite_applies(EP_KIND_HELM_VALUES));
	EXPECT(ep_rewrite_applies(EP_KIND_KUSTOMIZATION));
	EXPECT(ep_rewrite_applies(EP_KIND_TERRAFORM));
	EXPECT(!ep_rewrite_applies(EP_KIND_HELM_TEMPLATE)); /* not YAML until rendered */
	EXPECT(!ep_rewrite_applies(EP_KIND_TERRAFORM_STATE));
	EXPECT(!ep_rewrite_applies(EP_KIND_OTHER));
	EXPECT(!ep_rewrite_applies(EP_KIND_NONE));
}

static char *hostname(const char *text, const char *host, char *why, size_t cap)
{
	char *out = NULL;
	size_t len = 0;
	struct ep_error err = { 0 };
	if (ep_set_hostname(text, strlen(text), host, "cloud-init/user-data", &out, &len, why, cap, &err) != 0)
		return strdup("ERROR");
	if (out && (len != strlen(out) || *why))
		return free(out), strdup("BAD");
	return out ? out : strdup(text);
}

TEST(cloud_init_hostname)
{
	struct {
		const char *in, *host, *out, *why; /* why: what the reason for leaving it holds ("": none given) */
	} cases[] = {
		{ "#cloud-config\nhostname: web-1\nfqdn: web-1.example.org\n", "web-2", "#cloud-config\nhostname: web-2\nfqdn: web-2.example.org\n", "" },
		{ "instance-id: i-1\nlocal-hostname: web-1\n", "web-2", "instance-id: i-1\nlocal-hostname: web-2\n", "" },
		{ "#cloud-config\npackages: [nginx]\n", "web-2", "#cloud-config\nhostname: web-2\npackages: [nginx]\n", "" },
		{ "#cloud-config\nusers:\n  - name: ops\n    hostname: keep\nhostname: old\n", "web-2", "#cloud-config\nusers:\n  - name: ops\n    hostname: keep\nhostname: web-2\n", "" },
		{ "#!/bin/sh\necho hi\n", "web-2", "#!/bin/sh\necho hi\n", "" }, /* a script: not cloud-config */
		{ "instance-id: i-1\n", "web-2", "instance-id: i-1\n", "" }, /* meta-data without a host name */
		/* every other byte stays: comments, quotes, line ends, indentation, characters past ASCII */
		{ "#cloud-config\n# caf\xc3\xa9 \xe2\x82\xac\nusers: [\xc3\xb6]\nhostname: web-1 # old\n", "web-2", "#cloud-config\n# caf\xc3\xa9 \xe2\x82\xac\nusers: [\xc3\xb6]\nhostname: web-2 # old\n", "" },
		{ "#cloud-config\nhostname: 'web-1'\nfqdn: \"web-1.example.org\"\n", "web-2", "#cloud-config\nhostname: 'web-2'\nfqdn: \"web-2.example.org\"\n", "" },
		{ "#cloud-config\nhostname:\nusers: []\n", "web-2", "#cloud-config\nhostname: web-2\nusers: []\n", "" },
		{ "#cloud-config\n# nothing yet\n", "web-2", "#cloud-config\nhostname: web-2\n# nothing yet\n", "" },
		{ "#cloud-config", "web-2", "#cloud-config\nhostname: web-2\n", "" },
		{ "#cloud-config\r\npackages: [nginx]\r\n", "web-2", "#cloud-config\r\nhostname: web-2\r\npackages: [nginx]\r\n", "" },
		{ "#cloud-config\n  a: 1\n  b: 2\n", "web-2", "#cloud-config\n  hostname: web-2\n  a: 1\n  b: 2\n", "" },
		{ "#cloud-config\n%YAML 1.1\n---\na: 1\n", "web-2", "#cloud-config\n%YAML 1.1\n---\nhostname: web-2\na: 1\n", "" },
		{ "#cloud-config\nhostname: old\n", "123", "#cloud-config\nhostname: \"123\"\n", "" }, /* not a number */
		{ "#cloud-config\nhostname: old\n", "yes", "#cloud-config\nhostname: \"yes\"\n", "" }, /* not a boolean */
		/* what cannot be edited safely stays as it was, with the reason */
		{ "#cloud-config-archive\n- type: text/cloud-config\n  content: 'x'\n", "web-2", NULL, "a list" },
		{ "#cloud-config\n{password: pw, ssh_pwauth: true}\n", "web-2", NULL, "flow mapping" },
		{ "#cloud-config\nhostname: |\n  web-1\n", "web-2", NULL, "not a plain or quoted scalar" },
		{ "#cloud-config\nhostname: &h web-1\nx: *h\n", "web-2", NULL, "not a plain or quoted scalar" },
		{ "#cloud-config\nusers: [\n", "web-2", NULL, "not valid YAML" },
		{ "#cloud-config\na: 1\n---\nb: 2\n", "web-2", NULL, "more than one YAML document" },
		{ "#!/bin/sh\nhostnamectl set-hostname web-1\n", "web-2", NULL, "not a mapping" },
		{ "#cloud-config\nfqdn: 'a.b c'\n", "web-2", NULL, "does not end in a domain name" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char why[256];
		char *got = hostname(cases[i].in, cases[i].host, why, sizeof why);
		bool ok = !strcmp(got, cases[i].out ? cases[i].out : cases[i].in) &&
			  (*cases[i].why ? strstr(why, cases[i].why) != NULL : !*why);
		if (!ok)
			fprintf(stderr, "case %zu: got '%s', why '%s'\n", i, got, why);
		EXPECT(ok);
		free(got);
	}
	/* UTF-16 (libyaml reads it, its marks then count 16-bit units): left as it is */
	static const char utf16[] = "\xff\xfeh\0o\0s\0t\0n\0a\0m\0e\0:\0 \0w\0\n\0";
	char why[256], *out = NULL;
	size_t len = 0;
	struct ep_error err = { 0 };
	EXPECT(ep_set_hostname(utf16, sizeof utf16 - 1, "web-2", "meta-data", &out, &len, why, sizeof why, &err) == 0);
	EXPECT(!out && strstr(why, "UTF-16"));
	EXPECT(ep_hostname_ok("web-2.example.org"));
	EXPECT(!ep_hostname_ok("web 2"));
	EXPECT(!ep_hostname_ok("-x"));
	EXPECT(!ep_hostname_ok("a;b"));
}

/* ep_rewrite_file on text: the result, the text itself when unchanged, "ERROR: message" when refused. */
static char *rewritten(enum ep_file_kind kind, const char *text, size_t len, const struct ep_rewrite *rules, size_t n)
{
	struct ep_error err = { 0 };
	char *out = NULL, msg[sizeof err.msg + 32];
	size_t out_len = 0;
	if (ep_rewrite_file(kind, text, len, "iac/x.yaml", rules, n, &out, &out_len, &err) != 0) {
		snprintf(msg, sizeof msg, "%s: %s", out ? "BAD: output on error" : "ERROR", err.msg);
		return strdup(msg);
	}
	if (out && out_len != strlen(out))
		return free(out), strdup("BAD: length");
	return out ? out : strndup(text, len);
}

#define K8S EP_KIND_KUBERNETES
#define HELM EP_KIND_HELM_VALUES
#define KUST EP_KIND_KUSTOMIZATION

TEST(rewrite_yaml)
{
	static const struct ep_rewrite hub[] = { { "docker.io", "mirror.example:5000/hub" } };
	static const struct ep_rewrite bare[] = { { "docker.io", "mirror.example" }, { "quay.io", "reg.example/quay" } };
	static const struct ep_rewrite quay[] = { { "quay.io", "reg.example/quay" } };
	static const struct ep_rewrite v6[] = { { "docker.io", "[fd00::1]:5000" } };
	static const struct ep_rewrite k8sreg[] = { { "registry.k8s.io", "mirror.example:5000/k8s" } };
	static const struct ep_rewrite moved[] = { { "registry.old.example", "registry.new.example/team" } };
	static const struct ep_rewrite bitnami[] = { { "docker.io/bitnami", "reg.example/b" } };
	struct {
		enum ep_file_kind kind;
		const struct ep_rewrite *rules;
		const char *in, *out; /* out NULL: unchanged */
	} cases[] = {
		/* Kubernetes: every image: key of an object whose value is a reference, block or flow, any quoting */
		{ K8S, hub,
		  "apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      initContainers:\n        - name: init\n"
		  "          image: \"busybox:1.36\"   # Docker Hub\n      containers:\n        - name: app\n          image: nginx\n"
		  "          imagePullPolicy: Always\n        - {name: d, image: 'redis:7', ports: [{containerPort: 80}]}\n",
		  "apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      initContainers:\n        - name: init\n"
		  "          image: \"mirror.example:5000/hub/library/busybox:1.36\"   # Docker Hub\n      containers:\n        - name: app\n"
		  "          image: mirror.example:5000/hub/library/nginx\n          imagePullPolicy: Always\n"
		  "        - {name: d, image: 'mirror.example:5000/hub/library/redis:7', ports: [{containerPort: 80}]}\n" },
		/* one image, one place: nginx, docker.io/nginx and index.docker.io/library/nginx alike */
		{ K8S, hub, "kind: Pod\nspec:\n  containers: [{image: docker.io/nginx:1.25}, {image: 'index.docker.io/library/nginx:1.25'}, {image: \"nginx:1.25\"}]\n",
		  "kind: Pod\nspec:\n  containers: [{image: mirror.example:5000/hub/library/nginx:1.25}, {image: 'mirror.example:5000/hub/library/nginx:1.25'}, {image: \"mirror.example:5000/hub/library/nginx:1.25\"}]\n" },
		/* quoted keys, as JSON writes them */
		{ K8S, hub, "{\"kind\": \"Pod\", \"spec\": {\"containers\": [{\"image\": \"nginx\"}]}}\n",
		  "{\"kind\": \"Pod\", \"spec\": {\"containers\": [{\"image\": \"mirror.example:5000/hub/library/nginx\"}]}}\n" },
		{ K8S, hub, "kind: Pod\nspec:\n  ephemeralContainers:\n  - 'image': nginx@sha256:5b161f051d017e55d358435f295f5e9a297e66158f136321d9b04520ec6c48a3\n",
		  "kind: Pod\nspec:\n  ephemeralContainers:\n  - 'image': mirror.example:5000/hub/library/nginx@sha256:5b161f051d017e55d358435f295f5e9a297e66158f136321d9b04520ec6c48a3\n" },
		/* an image: key opening a nested map (the old rewriter's bug) stays as it was */
		{ K8S, hub, "kind: Thing\nspec:\n  image:\n    repository: nginx\n    tag: 1.25\n", NULL },
		/* custom resources: a Prometheus' spec.image, Tekton's steps */
		{ K8S, quay, "apiVersion: monitoring.coreos.com/v1\nkind: Prometheus\nspec:\n  image: quay.io/prometheus/prometheus:v2.48.0\n",
		  "apiVersion: monitoring.coreos.com/v1\nkind: Prometheus\nspec:\n  image: reg.example/quay/prometheus/prometheus:v2.48.0\n" },
		{ K8S, hub, "kind: Task\nspec:\n  steps:\n  - image: alpine\n    script: echo\n", "kind: Task\nspec:\n  steps:\n  - image: mirror.example:5000/hub/library/alpine\n    script: echo\n" },
		/* a rule moves only its own registry */
		{ K8S, hub, "kind: Pod\nspec: {containers: [{image: quay.io/prometheus/node-exporter}, {image: ghcr.io/x/y:1}, {image: localhost:5000/app}]}\n", NULL },
		{ K8S, quay, "kind: Pod\nspec: {containers: [{image: nginx}, {image: quay.io/prometheus/node-exporter}]}\n",
		  "kind: Pod\nspec: {containers: [{image: nginx}, {image: reg.example/quay/prometheus/node-exporter}]}\n" },
		/* a CRD's image: keys are its schema; a document without kind is no object */
		{ K8S, hub, "kind: CustomResourceDefinition\nspec:\n  versions:\n  - schema:\n      openAPIV3Schema:\n        properties:\n"
			    "          image: {type: string, default: nginx}\n          example: {image: nginx}\n", NULL },
		{ K8S, hub, "image: nginx\nreplicas: 1\n", NULL },
		{ K8S, hub, "- image: nginx\n", NULL },
		/* every document; a List's items (kubectl writes items before kind), its CRDs left */
		{ K8S, hub, "kind: Pod\nspec: {containers: [{image: a}]}\n---\nimage: b\n---\nkind: Pod\nspec: {containers: [{image: c}]}\n...\n",
		  "kind: Pod\nspec: {containers: [{image: mirror.example:5000/hub/library/a}]}\n---\nimage: b\n---\nkind: Pod\nspec: {containers: [{image: mirror.example:5000/hub/library/c}]}\n...\n" },
		{ K8S, hub, "apiVersion: v1\nitems:\n- kind: Pod\n  spec: {containers: [{image: a}]}\n- kind: CustomResourceDefinition\n  spec: {x: {image: b}}\n"
			    "- {kind: List, items: [{kind: Pod, spec: {containers: [{image: c}]}}]}\nkind: List\n",
		  "apiVersion: v1\nitems:\n- kind: Pod\n  spec: {containers: [{image: mirror.example:5000/hub/library/a}]}\n- kind: CustomResourceDefinition\n  spec: {x: {image: b}}\n"
		  "- {kind: List, items: [{kind: Pod, spec: {containers: [{image: mirror.example:5000/hub/library/c}]}}]}\nkind: List\n" },
		/* no reference: templates, expressions, empty, block scalars, aliases */
		{ K8S, hub, "kind: Pod\nspec:\n  containers:\n  - image: \"{{ .Values.image }}\"\n  - image: ${IMAGE}\n  - image: ''\n  - image:\n  - image: |\n      nginx\n  - image: *x\n", NULL },
		/* anchors and tags: the value after them is written, what refers to it follows */
		{ K8S, hub, "kind: Pod\nspec:\n  containers:\n  - image: &img nginx:1\n  - image: *img\n  - image: !!str &b\n      # the same\n      'redis'\n",
		  "kind: Pod\nspec:\n  containers:\n  - image: &img mirror.example:5000/hub/library/nginx:1\n  - image: *img\n  - image: !!str &b\n      # the same\n      'mirror.example:5000/hub/library/redis'\n" },
		/* every other byte: CRLF line ends, a byte order mark, characters past ASCII before the image */
		{ K8S, hub, "kind: Pod\r\nspec:\r\n  containers:\r\n  - image: nginx # x\r\n", "kind: Pod\r\nspec:\r\n  containers:\r\n  - image: mirror.example:5000/hub/library/nginx # x\r\n" },
		{ K8S, hub, "\xEF\xBB\xBFkind: Pod\nspec: {containers: [{image: nginx}]}\n", "\xEF\xBB\xBFkind: Pod\nspec: {containers: [{image: mirror.example:5000/hub/library/nginx}]}\n" },
		{ K8S, hub, "# caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x90\xB3\nkind: Pod\nmetadata: {name: \xC3\xB6}\nspec: {containers: [{name: \xE2\x82\xAC, image: nginx}]}\n",
		  "# caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x90\xB3\nkind: Pod\nmetadata: {name: \xC3\xB6}\nspec: {containers: [{name: \xE2\x82\xAC, image: mirror.example:5000/hub/library/nginx}]}\n" },
		/* a v6 registry cannot be written plain: it would open a list */
		{ K8S, v6, "kind: Pod\nspec: {containers: [{image: nginx}]}\n", "kind: Pod\nspec: {containers: [{image: \"[fd00::1]:5000/library/nginx\"}]}\n" },
		/* YAML that does not parse: left as it was */
		{ K8S, hub, "kind: Pod\nspec: {containers: [{image: nginx}\n", NULL },

		/* Helm: the split form, registry and repository moved together */
		{ HELM, bare, "image:\n  registry: docker.io\n  repository: bitnami/nginx\n  tag: 1.25.3-debian-12-r0\n  digest: \"\"\n",
		  "image:\n  registry: mirror.example\n  repository: bitnami/nginx\n  tag: 1.25.3-debian-12-r0\n  digest: \"\"\n" },
		{ HELM, hub, "image:\n  registry: docker.io\n  repository: bitnami/nginx\n  tag: 1.25.3-debian-12-r0\n",
		  "image:\n  registry: mirror.example:5000\n  repository: hub/bitnami/nginx\n  tag: 1.25.3-debian-12-r0\n" },
		/* quay.io and ghcr.io maps are not Docker Hub's; quay.io's rule moves quay.io's */
		{ HELM, hub, "server:\n  image:\n    registry: quay.io\n    repository: prometheus/prometheus\n    tag: \"\"\nx:\n  image: {registry: ghcr.io, repository: a/b}\n", NULL },
		{ HELM, quay, "server:\n  image:\n    repository: prometheus/prometheus\n    registry: 'quay.io'\n    tag: \"\"\n",
		  "server:\n  image:\n    repository: quay/prometheus/prometheus\n    registry: 'reg.example'\n    tag: \"\"\n" },
		/* no registry: the whole new name in repository; a scalar image at any depth */
		{ HELM, hub, "a:\n  b:\n    image: {repository: nginx, tag: \"1\"}\n    sidecar:\n      image: busybox:1.36\n",
		  "a:\n  b:\n    image: {repository: mirror.example:5000/hub/library/nginx, tag: \"1\"}\n    sidecar:\n      image: mirror.example:5000/hub/library/busybox:1.36\n" },
		{ HELM, hub, "image: {registry: \"\", repository: bitnami/nginx}\n", "image: {registry: \"\", repository: mirror.example:5000/hub/bitnami/nginx}\n" },
		/* global.imageRegistry moved by a rule naming it that leads to a host alone */
		{ HELM, bare, "global:\n  imageRegistry: docker.io\n  image:\n    registry: docker.io\nimage: {registry: docker.io, repository: bitnami/nginx}\n",
		  "global:\n  imageRegistry: mirror.example\n  image:\n    registry: mirror.example\nimage: {registry: mirror.example, repository: bitnami/nginx}\n" },
		{ HELM, hub, "global:\n  imageRegistry: docker.io\n", NULL },
		{ HELM, bare, "global:\n  imageRegistry: \"\"\n  storageClass: docker.io\nother:\n  imageRegistry: docker.io\n", NULL },
		/* not references: templates, empty strings, aliases, registries that are no scalars */
		{ HELM, hub, "image: \"{{ .Values.x }}\"\na: {image: \"\"}\nb: {image: {registry: \"{{ .Values.r }}\", repository: nginx}}\n"
			     "c: {image: {registry: *r, repository: nginx}}\nd: {image: {registry: [docker.io], repository: nginx}}\n", NULL },
		{ HELM, hub, "image: {repository: nginx:1.25}\n", NULL },
		/* ingress-nginx: {registry, image}, global.image.registry in place of a registry the map lacks */
		{ HELM, k8sreg, "global:\n  image:\n    # the registry\n    registry: registry.k8s.io\ncontroller:\n  image:\n    chroot: false\n"
				"    # registry: registry.k8s.io\n    image: ingress-nginx/controller\n    tag: \"v1.15.1\"\n"
				"defaultBackend:\n  image: {image: defaultbackend-amd64, tag: \"1.5\"}\nown:\n  image: {registry: registry.k8s.io, image: pause}\n",
		  "global:\n  image:\n    # the registry\n    registry: mirror.example:5000\ncontroller:\n  image:\n    chroot: false\n"
		  "    # registry: registry.k8s.io\n    image: k8s/ingress-nginx/controller\n    tag: \"v1.15.1\"\n"
		  "defaultBackend:\n  image: {image: k8s/defaultbackend-amd64, tag: \"1.5\"}\nown:\n  image: {registry: mirror.example:5000, image: k8s/pause}\n" },
		/* global.imageRegistry in place of the maps' registries, wherever it is in the file */
		{ HELM, moved, "image: {registry: docker.io, repository: bitnami/nginx}\nglobal: {imageRegistry: registry.old.example}\n",
		  "image: {registry: docker.io, repository: team/bitnami/nginx}\nglobal: {imageRegistry: registry.new.example}\n" },
		{ HELM, hub, "global: {imageRegistry: registry.old.example}\nimage: {registry: docker.io, repository: bitnami/nginx}\n", NULL },
		/* a global registry that is no plain value: the maps that use it are left */
		{ HELM, hub, "r: &r docker.io\nglobal: {imageRegistry: *r}\nimage: {registry: docker.io, repository: bitnami/nginx}\n", NULL },
		/* a NUL inside a value: no reference */
		{ HELM, hub, "image: \"nginx\\0x\"\n", NULL },
		/* maps under one global registry that would not all move to one registry: none moves */
		{ HELM, bitnami, "global: {imageRegistry: docker.io}\na: {image: {repository: bitnami/nginx}}\nb: {image: {repository: library/redis}}\n", NULL },

		/* Kustomization: images' name and newName, names without tags */
		{ KUST, hub, "resources: [app.yaml]\nimages:\n- name: nginx\n  newName: docker.io/bitnami/nginx\n  newTag: \"1.25\"\n- name: quay.io/x/y\n  newTag: v2\n- name: redis\n  newName: redis:7\n",
		  "resources: [app.yaml]\nimages:\n- name: mirror.example:5000/hub/library/nginx\n  newName: mirror.example:5000/hub/bitnami/nginx\n  newTag: \"1.25\"\n- name: quay.io/x/y\n  newTag: v2\n- name: mirror.example:5000/hub/library/redis\n  newName: redis:7\n" },
		{ KUST, hub, "namePrefix: x\nconfigMapGenerator:\n- name: nginx\n", NULL },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		const char *want = cases[i].out ? cases[i].out : cases[i].in;
		size_t nrules = cases[i].rules == bare ? 2 : 1;
		char *got = rewritten(cases[i].kind, cases[i].in, strlen(cases[i].in), cases[i].rules, nrules);
		if (!got || strcmp(got, want))
			fprintf(stderr, "case %zu: got\n%s\nwant\n%s\n", i, got ? got : "(null)", want);
		EXPECT(got && !strcmp(got, want));
		free(got);
	}
}

TEST(rewrite_yaml_refusals)
{
	static const struct ep_rewrite hub[] = { { "docker.io", "mirror.example:5000/hub" } };
	/* a flow mapping used as a key: past 1024 characters it is no key, so the edit would change the structure */
	char text[1200];
	snprintf(text, sizeof text, "kind: Pod\nspec:\n  {image: nginx, pad: %0990d}: x\n", 0);
	char *got = rewritten(K8S, text, strlen(text), hub, 1);
	EXPECT(got && strstr(got, "ERROR: rewriting image references in 'iac/x.yaml' would not leave YAML that reads back (") &&
	       strstr(got, "); refusing it"));
	free(got);
	/* UTF-16, whose marks libyaml counts in 16-bit units: left as it was */
	static const char utf16[] = "\xff\xfek\0i\0n\0d\0:\0 \0P\0\n\0i\0m\0a\0g\0e\0:\0 \0n\0\n\0";
	char *out = NULL;
	size_t len = 0;
	struct ep_error err = { 0 };
	EXPECT(ep_rewrite_file(K8S, utf16, sizeof utf16 - 1, "x", hub, 1, &out, &len, &err) == 0 && !out);
	/* deeper than any configuration: left as it was */
	size_t deep = 3000;
	char *nest = malloc(2 * deep + 64);
	EXPECT(nest != NULL);
	if (nest) {
		size_t at = (size_t)snprintf(nest, 64, "kind: Pod\nimage: nginx\nx: ");
		memset(nest + at, '[', deep), memset(nest + at + deep, ']', deep);
		nest[at + 2 * deep] = '\0';
		EXPECT(ep_rewrite_file(K8S, nest, strlen(nest), "x", hub, 1, &out, &len, &err) == 0 && !out);
		free(nest);
	}
}

/* ---- Terraform (targets/rewrite_hcl.c) ---- */

static const struct ep_rewrite hcl_rules[] = {
	{ "registry.old.example:5000/team", "registry.new.example/apps" },
	{ "docker.io", "mirror.example/hub" },
	{ "quay.io", "reg.example/quay" },
};

/* The file after --rewrite-registry; "UNCHANGED" when nothing was, "ERROR" when refused. */
static char *rewrite_tf(const char *text, enum ep_file_kind kind)
{
	char *out = NULL;
	size_t len = 0;
	struct ep_error err = { 0 };
	if (ep_rewrite_file(kind, text, strlen(text), "tf/main.tf", hcl_rules, 3, &out, &len, &err) != 0)
		return strdup("ERROR");
	if (out && len != strlen(out))
		return free(out), strdup("BAD");
	return out ? out : strdup("UNCHANGED");
}

static bool rewrites_to(const char *in, const char *want)
{
	char *got = rewrite_tf(in, EP_KIND_TERRAFORM);
	bool ok = !strcmp(got, want ? want : "UNCHANGED");
	if (!ok)
		printf("       rewriting:\n%s       got:\n%s\n       wanted:\n%s\n", in, got, want ? want : "UNCHANGED");
	free(got);
	return ok;
}

TEST(rewrite_hcl_known_places)
{
	/* Kubernetes resources: image in container and init_container blocks, dynamic ones too; CRLF kept */
	EXPECT(rewrites_to("resource \"kubernetes_deployment\" \"web\" {\r\n  spec {\r\n    template {\r\n      spec {\r\n"
			   "        init_container {\r\n          image = \"busybox:1.36\" # init\r\n        }\r\n"
			   "        container {\r\n          name  = \"web\"\r\n          image = \"registry.old.example:5000/team/web:3\"\r\n"
			   "        }\r\n      }\r\n    }\r\n  }\r\n}\r\n",
			   "resource \"kubernetes_deployment\" \"web\" {\r\n  spec {\r\n    template {\r\n      spec {\r\n"
			   "        init_container {\r\n          image = \"mirror.example/hub/library/busybox:1.36\" # init\r\n        }\r\n"
			   "        container {\r\n          name  = \"web\"\r\n          image = \"registry.new.example/apps/web:3\"\r\n"
			   "        }\r\n      }\r\n    }\r\n  }\r\n}\r\n"));
	EXPECT(rewrites_to("resource \"kubernetes_pod_v1\" \"p\" {\n  spec {\n    dynamic \"container\" {\n      for_each = var.c\n"
			   "      content {\n        image = \"quay.io/prometheus/prometheus:v2\"\n      }\n    }\n  }\n}\n",
			   "resource \"kubernetes_pod_v1\" \"p\" {\n  spec {\n    dynamic \"container\" {\n      for_each = var.c\n"
			   "      content {\n        image = \"reg.example/quay/prometheus/prometheus:v2\"\n      }\n    }\n  }\n}\n"));
	/* kubernetes_manifest: image keys at any depth of the manifest, quoted or not, in tuples of objects */
	EXPECT(rewrites_to("resource \"kubernetes_manifest\" \"d\" {\n  manifest = {\n    \"spec\" = {\n      \"template\" = { spec = {\n"
			   "        containers = [\n          { \"name\" = \"a\", \"image\" = \"nginx:1.7.9\" },\n"
			   "          {\n            image: \"docker.io/bitnami/redis@sha256:" "5b161f051d017e55d358435f295f5e9a297e66158f136321d9b04520ec6c48a3\"\n          },\n"
			   "        ]\n      } }\n      prometheus = { image = \"quay.io/prometheus/prometheus\" }\n    }\n  }\n}\n",
			   "resource \"kubernetes_manifest\" \"d\" {\n  manifest = {\n    \"spec\" = {\n      \"template\" = { spec = {\n"
			   "        containers = [\n          { \"name\" = \"a\", \"image\" = \"mirror.example/hub/library/nginx:1.7.9\" },\n"
			   "          {\n            image: \"mirror.example/hub/bitnami/redis@sha256:" "5b161f051d017e55d358435f295f5e9a297e66158f136321d9b04520ec6c48a3\"\n          },\n"
			   "        ]\n      } }\n      prometheus = { image = \"reg.example/quay/prometheus/prometheus\" }\n    }\n  }\n}\n"));
	/* Docker: a container's image, an image's name (a data source's too), a service's container_spec */
	EXPECT(rewrites_to("resource \"docker_image\" \"n\" {\n  name = \"nginx:1.25\"\n}\n"
			   "data \"docker_registry_image\" \"u\" { name = \"ubuntu:22.04\" }\n"
			   "resource \"docker_container\" \"c\" {\n  name  = \"web\"\n  image = \"index.docker.io/library/nginx\"\n}\n"
			   "resource \"docker_service\" \"s\" {\n  name = \"svc\"\n  task_spec {\n    container_spec {\n"
			   "      image = \"redis:7\"\n    }\n  }\n}\n",
			   "resource \"docker_image\" \"n\" {\n  name = \"mirror.example/hub/library/nginx:1.25\"\n}\n"
			   "data \"docker_registry_image\" \"u\" { name = \"mirror.example/hub/library/ubuntu:22.04\" }\n"
			   "resource \"docker_container\" \"c\" {\n  name  = \"web\"\n  image = \"mirror.example/hub/library/nginx\"\n}\n"
			   "resource \"docker_service\" \"s\" {\n  name = \"svc\"\n  task_spec {\n    container_spec {\n"
			   "      image = \"mirror.example/hub/library/redis:7\"\n    }\n  }\n}\n"));
	/* Cloud Run (v1 and v2, services and jobs), Azure container groups and apps */
	EXPECT(rewrites_to("resource \"google_cloud_run_service\" \"a\" {\n  name = \"nginx\"\n  template {\n    spec {\n"
			   "      containers { image = \"nginx\" }\n    }\n  }\n}\n"
			   "resource \"google_cloud_run_v2_service\" \"b\" {\n  template {\n    containers {\n      image = \"nginx\"\n    }\n  }\n}\n"
			   "resource \"google_cloud_run_v2_job\" \"c\" {\n  template {\n    template {\n      containers {\n        image = \"nginx\"\n"
			   "      }\n    }\n  }\n}\n",
			   "resource \"google_cloud_run_service\" \"a\" {\n  name = \"nginx\"\n  template {\n    spec {\n"
			   "      containers { image = \"mirror.example/hub/library/nginx\" }\n    }\n  }\n}\n"
			   "resource \"google_cloud_run_v2_service\" \"b\" {\n  template {\n    containers {\n      image = \"mirror.example/hub/library/nginx\"\n    }\n  }\n}\n"
			   "resource \"google_cloud_run_v2_job\" \"c\" {\n  template {\n    template {\n      containers {\n        image = \"mirror.example/hub/library/nginx\"\n"
			   "      }\n    }\n  }\n}\n"));
	EXPECT(rewrites_to("resource \"azurerm_container_group\" \"g\" {\n  container {\n    name  = \"hello\"\n    image = \"nginx\"\n  }\n}\n"
			   "resource \"azurerm_container_app\" \"a\" {\n  template {\n    container {\n      image = \"nginx\"\n    }\n  }\n}\n",
			   "resource \"azurerm_container_group\" \"g\" {\n  container {\n    name  = \"hello\"\n    image = \"mirror.example/hub/library/nginx\"\n  }\n}\n"
			   "resource \"azurerm_container_app\" \"a\" {\n  template {\n    container {\n      image = \"mirror.example/hub/library/nginx\"\n    }\n  }\n}\n"));
	/* ECS: container definitions written as jsonencode([...]) */
	EXPECT(rewrites_to("resource \"aws_ecs_task_definition\" \"t\" {\n  family = \"web\"\n  container_definitions = jsonencode([\n"
			   "    {\n      name  = \"web\"\n      \"image\": \"nginx:1.25\"\n      portMappings = [{ containerPort = 80 }]\n    },\n"
			   "    { name = \"log\", image = \"${var.repo}:1\" },\n  ])\n}\n",
			   "resource \"aws_ecs_task_definition\" \"t\" {\n  family = \"web\"\n  container_definitions = jsonencode([\n"
			   "    {\n      name  = \"web\"\n      \"image\": \"mirror.example/hub/library/nginx:1.25\"\n      portMappings = [{ containerPort = 80 }]\n    },\n"
			   "    { name = \"log\", image = \"${var.repo}:1\" },\n  ])\n}\n"));
	/* ... or as JSON in a heredoc (a template: interpolations stepped over) */
	EXPECT(rewrites_to("resource \"aws_ecs_task_definition\" \"t\" {\n  container_definitions = <<-DEFS\n    [\n"
			   "      {\"name\": \"web\", \"cpu\": ${var.cpu}, \"x\": \"${jsonencode({\"image\": \"a\"})}\",\n"
			   "       \"image\"  :  \"quay.io/org/web:1\", \"logConfiguration\": {\"options\": {\"image\": \"nginx\"}},\n"
			   "       \"environment\": [{\"name\": \"image\", \"value\": \"nginx\"}]},\n"
			   "      {\"image\": \"${var.image}\"}, {\"image\": \"redis\"}\n    ]\n  DEFS\n}\n",
			   "resource \"aws_ecs_task_definition\" \"t\" {\n  container_definitions = <<-DEFS\n    [\n"
			   "      {\"name\": \"web\", \"cpu\": ${var.cpu}, \"x\": \"${jsonencode({\"image\": \"a\"})}\",\n"
			   "       \"image\"  :  \"reg.example/quay/org/web:1\", \"logConfiguration\": {\"options\": {\"image\": \"nginx\"}},\n"
			   "       \"environment\": [{\"name\": \"image\", \"value\": \"nginx\"}]},\n"
			   "      {\"image\": \"${var.image}\"}, {\"image\": \"mirror.example/hub/library/redis\"}\n    ]\n  DEFS\n}\n"));
	/* Helm: set image (a reference), *.image.repository (a name; with its registry, the split form) */
	EXPECT(rewrites_to("resource \"helm_release\" \"h\" {\n  chart = \"x\"\n"
			   "  set {\n    value = \"quay.io/a/b:1\"\n    name  = \"image\"\n  }\n"
			   "  set {\n    name  = \"sidecar.image\"\n    value = \"busybox\"\n  }\n"
			   "  set {\n    name  = \"controller.image.repository\"\n    value = \"bitnami/nginx\"\n  }\n"
			   "  set {\n    name  = \"db.image.repository\"\n    value = \"bitnami/postgresql\"\n  }\n"
			   "  set {\n    name  = \"db.image.registry\"\n    value = \"docker.io\"\n  }\n"
			   "  set {\n    name  = \"db.image.tag\"\n    value = \"16\"\n  }\n"
			   "  set {\n    name  = \"replicas\"\n    value = \"nginx\"\n  }\n"
			   "  set {\n    name  = \"bad.image.repository\"\n    value = \"nginx:1.25\"\n  }\n"
			   "}\n"
			   "resource \"helm_release\" \"v3\" {\n  set = [\n    { name = \"image\", value = \"nginx\" },\n"
			   "    { name = \"other\", value = \"nginx\" },\n  ]\n}\n",
			   "resource \"helm_release\" \"h\" {\n  chart = \"x\"\n"
			   "  set {\n    value = \"reg.example/quay/a/b:1\"\n    name  = \"image\"\n  }\n"
			   "  set {\n    name  = \"sidecar.image\"\n    value = \"mirror.example/hub/library/busybox\"\n  }\n"
			   "  set {\n    name  = \"controller.image.repository\"\n    value = \"mirror.example/hub/bitnami/nginx\"\n  }\n"
			   "  set {\n    name  = \"db.image.repository\"\n    value = \"hub/bitnami/postgresql\"\n  }\n"
			   "  set {\n    name  = \"db.image.registry\"\n    value = \"mirror.example\"\n  }\n"
			   "  set {\n    name  = \"db.image.tag\"\n    value = \"16\"\n  }\n"
			   "  set {\n    name  = \"replicas\"\n    value = \"nginx\"\n  }\n"
			   "  set {\n    name  = \"bad.image.repository\"\n    value = \"nginx:1.25\"\n  }\n"
			   "}\n"
			   "resource \"helm_release\" \"v3\" {\n  set = [\n    { name = \"image\", value = \"mirror.example/hub/library/nginx\" },\n"
			   "    { name = \"other\", value = \"nginx\" },\n  ]\n}\n"));
}

TEST(rewrite_hcl_leaves_the_rest)
{
	static const char *const same[] = {
		/* expressions, templates, placeholders, escapes: no literal reference to move */
		"resource \"kubernetes_pod\" \"p\" {\n  spec {\n    container {\n      image = var.x\n    }\n    container {\n"
		"      image = \"${var.registry}/nginx\"\n    }\n    container { image = \"<image_url>\" }\n"
		"    container { image = \"ngin\\u0078\" }\n    container { image = \"nginx\" == var.a ? \"a\" : \"b\" }\n  }\n}\n",
		"resource \"docker_container\" \"c\" {\n  image = docker_image.n.image_id\n}\n",
		/* images that are no container images */
		"resource \"google_compute_instance\" \"vm\" {\n  boot_disk {\n    initialize_params {\n      image = \"debian-cloud/debian-9\"\n"
		"    }\n  }\n}\n",
		"resource \"digitalocean_droplet\" \"d\" {\n  image = \"ubuntu-22-04-x64\"\n}\n",
		"resource \"aws_instance\" \"i\" {\n  ami = \"ami-0c55b159cbfafe1f0\"\n}\n",
		/* variables, locals, outputs, modules: no context says what they are */
		"variable \"image\" {\n  default = \"nginx\"\n}\nlocals {\n  image = \"nginx\"\n}\noutput \"image\" { value = \"nginx\" }\n"
		"module \"m\" {\n  source = \"./m\"\n  image  = \"nginx\"\n}\nimage = \"nginx\"\n",
		/* maps in Kubernetes resources hold data, not containers; heredocs and comments hold text */
		"resource \"kubernetes_config_map\" \"c\" {\n  data = {\n    image = \"nginx\"\n  }\n  metadata {\n    labels = { image = \"nginx\" }\n"
		"  }\n}\nresource \"kubernetes_deployment\" \"d\" {\n  # image = \"nginx\"\n  /* image = \"nginx\" */\n"
		"  spec {\n    x = <<EOF\nimage = \"nginx\"\nEOF\n  }\n}\n",
		/* kubernetes_manifest: image keys outside the manifest */
		"resource \"kubernetes_manifest\" \"m\" {\n  image = \"nginx\"\n  field_manager { image = \"nginx\" }\n  manifest = yamldecode(file(\"x\"))\n}\n",
		/* not at the place its type keeps them */
		"resource \"docker_container\" \"c\" {\n  upload { image = \"nginx\" }\n}\nresource \"docker_image\" \"i\" {\n  build { name = \"nginx\" }\n}\n"
		"resource \"google_cloud_run_v2_service\" \"s\" {\n  template { image = \"nginx\" }\n}\n"
		"resource \"aws_ecs_task_definition\" \"t\" {\n  container_definitions = jsonencode([{ x = { image = \"nginx\" } }])\n"
		"  volume { image = \"nginx\" }\n}\n"
		"resource \"aws_ecs_task_definition\" \"u\" {\n  container_definitions = <<EOF\n{\"image\": \"nginx\", \"a\": [{\"image\": \"nginx\"}]}\nEOF\n"
		"  volume = <<EOF\n[{\"image\": \"nginx\"}]\nEOF\n}\n"
		"data \"docker_container\" \"d\" { image = \"nginx\" }\n",
		/* images already elsewhere, and a registry no rule names */
		"resource \"docker_image\" \"n\" { name = \"ghcr.io/org/app:1\" }\nresource \"docker_image\" \"m\" { name = \"mirror.example/hub/library/nginx\" }\n",
		/* after a resource, at the top */
		"resource \"kubernetes_pod\" \"p\" {}\nimage = \"nginx\"\nx = [{ image = \"nginx\" }]\n",
		/* not HCL the scanner reads: left as it is */
		"resource \"docker_image\" \"n\" {\n  name = \"nginx\"\n",
		"resource \"docker_image\" \"n\" {\n  name = \"nginx\" extra\n}\n",
	};
	for (size_t i = 0; i < sizeof same / sizeof *same; i++)
		EXPECT(rewrites_to(same[i], NULL));
	/* .tfvars hold values without their context: not rewritten */
	char *got = rewrite_tf("image = \"nginx\"\n", EP_KIND_TERRAFORM_VARS);
	EXPECT(!strcmp(got, "UNCHANGED"));
	free(got);
}

/* A result that would not read back is refused, naming the file; nothing is given back. */
TEST(rewrite_hcl_refuses_what_does_not_read_back)
{
	static const char tf[] = "resource \"docker_image\" \"n\" {\n  name = \"nginx\" # c\n}\n";
	struct {
		size_t at, del;
		const char *text, *why;
	} bad[] = {
		{ 40, 5, "a\nb", "reads back (hcl: 'tf/main.tf' line 2: unterminated string)" },	  /* not HCL */
		{ 40, 5, "a\" b = \"c", "(a moved reference is no string where it was put)" },	  /* an expression */
		{ 40, 5, "a\"\n  b = \"c", "(the string at line 2 reads otherwise)" },	  /* another value */
		{ 40, 5, "a\\n", "(the string at line 2 reads otherwise)" },			  /* an escape */
		{ 47, 1, "#", "(a moved reference is no string where it was put)" },		  /* a comment */
	};
	EXPECT(!memcmp(tf + 40, "nginx", 5));
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		struct ep_text_edit e = { .at = bad[i].at, .del = bad[i].del };
		snprintf(e.text, sizeof e.text, "%s", bad[i].text);
		char *out = (char *)"unset";
		size_t len = 1;
		struct ep_error err = { 0 };
		int rc = ep_rewrite_hcl_edit("tf/main.tf", tf, strlen(tf), &e, 1, &out, &len, &err);
		if (rc != EP_ERUNTIME || !strstr(err.msg, bad[i].why))
			printf("       edit %zu: %d %s\n", i, rc, err.msg);
		EXPECT(rc == EP_ERUNTIME && !out && !len);
		EXPECT(strstr(err.msg, "rewriting image references in 'tf/main.tf' would not leave Terraform that reads back"));
		EXPECT(strstr(err.msg, "refusing it") && strstr(err.msg, bad[i].why));
	}
	struct ep_text_edit ok = { .at = 40, .del = 5, .text = "reg.example/nginx" };
	char *out = NULL;
	size_t len = 0;
	struct ep_error err = { 0 };
	EXPECT(ep_rewrite_hcl_edit("tf/main.tf", tf, strlen(tf), &ok, 1, &out, &len, &err) == 0);
	EXPECT(out && !strcmp(out, "resource \"docker_image\" \"n\" {\n  name = \"reg.example/nginx\" # c\n}\n"));
	free(out);
	/* in a heredoc of JSON, as ECS's container definitions */
	static const char doc[] = "x = <<E\n[{\"image\": \"nginx\"}]\nE\n";
	struct ep_text_edit in_doc = { .at = 20, .del = 5, .text = "a\"b" };
	EXPECT(!memcmp(doc + 20, "nginx", 5));
	EXPECT(ep_rewrite_hcl_edit("tf/ecs.tf", doc, strlen(doc), &in_doc, 1, &out, &len, &err) == EP_ERUNTIME && !out);
	EXPECT(strstr(err.msg, "'tf/ecs.tf' would not leave Terraform that reads back as meant (the string at line 1 reads otherwise)"));
	snprintf(in_doc.text, sizeof in_doc.text, "reg.example/nginx");
	EXPECT(ep_rewrite_hcl_edit("tf/ecs.tf", doc, strlen(doc), &in_doc, 1, &out, &len, &err) == 0);
	EXPECT(out && !strcmp(out, "x = <<E\n[{\"image\": \"reg.example/nginx\"}]\nE\n"));
	free(out);
}
