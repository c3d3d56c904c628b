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

static char *hostname(const char *text, const char *host)
{
	char *out = NULL;
	size_t len = 0;
	struct ep_error err = { 0 };
	if (ep_set_hostname(text, strlen(text), host, &out, &len, &err) != 0)
		return strdup("ERROR");
	return out ? out : strdup(text);
}

TEST(cloud_init_hostname)
{
	struct {
		const char *in, *out;
	} cases[] = {
		{ "#cloud-config\nhostname: web-1\nfqdn: web-1.example.org\n", "#cloud-config\nhostname: web-2\nfqdn: web-2.example.org\n" },
		{ "instance-id: i-1\nlocal-hostname: web-1\n", "instance-id: i-1\nlocal-hostname: web-2\n" },
		{ "#cloud-config\npackages: [nginx]\n", "#cloud-config\nhostname: web-2\npackages: [nginx]\n" },
		{ "#cloud-config\nusers:\n  - name: ops\n    hostname: keep\nhostname: old\n", "#cloud-config\nusers:\n  - name: ops\n    hostname: keep\nhostname: web-2\n" },
		{ "#!/bin/sh\necho hi\n", "#!/bin/sh\necho hi\n" }, /* a script: not cloud-config */
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char *got = hostname(cases[i].in, "web-2");
		EXPECT(!strcmp(got, cases[i].out));
		free(got);
	}
	EXPECT(ep_hostname_ok("web-2.example.org"));
	EXPECT(!ep_hostname_ok("web 2"));
	EXPECT(!ep_hostname_ok("-x"));
	EXPECT(!ep_hostname_ok("a;b"));
}
