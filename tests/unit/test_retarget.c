#include <stdlib.h>
#include <string.h>

#include "targets/retarget.h"
#include "tests/unit/unit.h"

static char *rewrite(const char *text, const struct ep_rewrite *rules, size_t n)
{
	char *out = NULL;
	size_t len = 0;
	struct ep_error err = { 0 };
	if (ep_rewrite_images(text, strlen(text), rules, n, &out, &len, &err) != 0)
		return strdup("ERROR");
	return out ? out : strdup(text);
}

TEST(rewrite_image_references)
{
	const struct ep_rewrite hub[] = { { "docker.io", "mirror.local:5000/hub" } };
	const struct ep_rewrite quay[] = { { "quay.io/team", "reg.example/team2" } };
	struct {
		const char *in, *out;
		const struct ep_rewrite *rules;
	} cases[] = {
		{ "      image: nginx:1.27\n", "      image: mirror.local:5000/hub/library/nginx:1.27\n", hub },
		{ "  - image: \"bitnami/redis:7\"  # cache\n", "  - image: \"mirror.local:5000/hub/bitnami/redis:7\"  # cache\n", hub },
		{ "image: docker.io/library/busybox@sha256:ab\n", "image: mirror.local:5000/hub/library/busybox@sha256:ab\n", hub },
		{ "  repository: grafana/grafana\n", "  repository: mirror.local:5000/hub/grafana/grafana\n", hub },
		{ "          image = \"nginx:1.27\"\n", "          image = \"mirror.local:5000/hub/library/nginx:1.27\"\n", hub },
		{ "image: quay.io/team/app:v1\n", "image: reg.example/team2/app:v1\n", quay },
		{ "image: quay.io/teams/app:v1\n", "image: quay.io/teams/app:v1\n", quay },       /* a prefix of a name is no match */
		{ "image: ghcr.io/x/y:1\n", "image: ghcr.io/x/y:1\n", hub },                    /* another registry stays */
		{ "imagePullPolicy: Always\n", "imagePullPolicy: Always\n", hub },              /* another key */
		{ "image: {{ .Values.image }}\n", "image: {{ .Values.image }}\n", hub },        /* templates stay */
		{ "image: ${var.image}\n", "image: ${var.image}\n", hub },
		{ "name: web\nimage: nginx\nport: 80", "name: web\nimage: mirror.local:5000/hub/library/nginx\nport: 80", hub },
		{ "image: localhost:5000/app\n", "image: localhost:5000/app\n", hub },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char *got = rewrite(cases[i].in, cases[i].rules, 1);
		EXPECT(!strcmp(got, cases[i].out));
		free(got);
	}
}

TEST(rewrite_kinds)
{
	EXPECT(ep_rewrite_applies(EP_KIND_KUBERNETES));
	EXPECT(ep_rewrite_applies(EP_KIND_HELM_VALUES));
	EXPECT(ep_rewrite_applies(EP_KIND_TERRAFORM));
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
