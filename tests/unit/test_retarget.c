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
