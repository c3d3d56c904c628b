#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/iac/hcl.h"
#include "formats/iac/terraform.h"
#include "tests/unit/unit.h"

/* Each event as a short line: "B0 resource a b", "A1 source=./x", "A1 count", "O2 google", "E0";
 * an object in a tuple or in jsonencode(...) as "I1 containers". */
static int record(void *ctx, const struct ep_hcl_item *it, struct ep_error *err)
{
	char *log = ctx;
	size_t at = strlen(log);
	(void)err;
	if (it->event == EP_HCL_BLOCK) {
		at += (size_t)snprintf(log + at, 4096 - at, "B%u %s", it->depth, it->name);
		for (size_t i = 0; i < it->nlabels; i++)
			at += (size_t)snprintf(log + at, 4096 - at, " %s", it->labels[i]);
	} else if (it->event == EP_HCL_ATTR) {
		at += (size_t)snprintf(log + at, 4096 - at, "A%u %s%s%s", it->depth, it->name, it->value ? "=" : "",
				       it->value ? it->value : "");
	} else if (it->event == EP_HCL_OBJECT) {
		at += (size_t)snprintf(log + at, 4096 - at, "%c%u %s", it->inner ? 'I' : 'O', it->depth, it->name);
	} else {
		at += (size_t)snprintf(log + at, 4096 - at, "E%u", it->depth);
	}
	snprintf(log + at, 4096 - at, "\n");
	return 0;
}

static int scan(const char *src, char *log, struct ep_error *err)
{
	*log = '\0';
	return ep_hcl_scan(src, strlen(src), "t.tf", record, log, err);
}

static bool scans_to(const char *src, const char *want)
{
	char log[4096];
	struct ep_error err = { 0 };
	int rc = scan(src, log, &err);
	if (rc != 0 || strcmp(log, want) != 0) {
		printf("       scanning: %s\n       got (%d %s):\n%s       wanted:\n%s", src, rc, err.msg, log, want);
		return false;
	}
	return true;
}

TEST(hcl_comments_hide_structure)
{
	EXPECT(scans_to("# resource \"no\" \"x\" {\n// data \"no\" \"y\" {\n/* module \"z\" {\n} */\n"
			"resource \"a\" \"b\" { # }\n}\n",
			"B0 resource a b\nE0\n"));
	EXPECT(scans_to("x = 1 /* } */ + 2 // }\ny = 3 # {\n", "A0 x\nA0 y\n"));
}

TEST(hcl_strings_escapes_and_templates)
{
	EXPECT(scans_to("x = \"}{\\\"resource \\\\\\\"q\\\\\\\" {\"\n", "A0 x=}{\"resource \\\"q\\\" {\n"));
	EXPECT(scans_to("e = \"caf\\u00e9 \\t\\U0001F600\"\n", "A0 e=caf\xc3\xa9 \t\xf0\x9f\x98\x80\n"));
	/* an interpolation holds an expression: strings and braces of its own */
	EXPECT(scans_to("name = \"${var.a}-${ {a = \"}\"}[\"a\"] }\"\nresource \"r\" \"n\" {}\n",
			"A0 name\nB0 resource r n\nE0\n"));
	EXPECT(scans_to("d = \"%{ if x }\\\"}%{ endif }\"\n", "A0 d\n"));
	EXPECT(scans_to("v = \"$${x} %%{y}\"\n", "A0 v=${x} %{y}\n"));
	EXPECT(scans_to("v = \"a\" == var.b ? 1 : 2\n", "A0 v\n"));
	EXPECT(scans_to("v = \"${\n  var.a\n}\"\n", "A0 v\n"));
}

TEST(hcl_heredocs)
{
	EXPECT(scans_to("policy = <<EOF\n{ \"resource\": \"x\" }\n}\n\"\nEOF\nresource \"a\" \"b\" {}\n",
			"A0 policy\nB0 resource a b\nE0\n"));
	EXPECT(scans_to("u = <<-EOT\n  resource \"x\" \"y\" {\n    NOT EOT\n  EOT\ndata \"d\" \"e\" {}\n",
			"A0 u\nB0 data d e\nE0\n"));
	EXPECT(scans_to("j = jsonencode(<<EOF\n)\nEOF\n)\nk = 1\n", "A0 j\nA0 k\n"));
}

TEST(hcl_blocks_attributes_and_objects)
{
	EXPECT(scans_to("terraform {\n  required_providers {\n    google = {\n      source  = \"hashicorp/google\"\n"
			"      version = \"~> 5.40\"\n    }\n    old = \"~> 1.0\"\n  }\n}\n",
			"B0 terraform\nB1 required_providers\nO2 google\nA3 source=hashicorp/google\n"
			"A3 version=~> 5.40\nE2\nA2 old=~> 1.0\nE1\nE0\n"));
	EXPECT(scans_to("m = { a = 1, \"b\": \"2\", (var.k) = 3\n c = { d = \"e\" } }\n",
			"O0 m\nA1 a\nA1 b=2\nO1 c\nA2 d=e\nE1\nE0\n"));
	EXPECT(scans_to("x = { for k, v in var.m : k => v }\nvariable \"v\" { default = 1 }\n",
			"A0 x\nB0 variable v\nA1 default\nE0\n"));
	EXPECT(scans_to("l = [\n  \"a\",\n  { b = 1 },\n]\nblock id {\n}\n", "I0 l\nA1 b\nE0\nA0 l\nB0 block id\nE0\n"));
	EXPECT(scans_to("\xef\xbb\xbf" "a \"1\" \"2\" \"3\" \"4\" \"5\" {}\n", "B0 a 1 2 3 4\nE0\n"));
	EXPECT(scans_to("", ""));
}

TEST(hcl_refuses_what_is_not_hcl)
{
	static const char *const bad[] = {
		"x = \"unterminated\n",  "x = <<EOF\nno end\n",   "resource \"a\" {\n",     "x = (1]\n",
		"/* open comment\n",     "}\n",                   "x = \"\\q\"\n",          "resource \"${a}\" {}\n",
		"a \"b\" c = 1\n",      "= 1\n",                 "x = <<EOF trailing\nEOF\n", "m = { a 1 }\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char log[4096];
		struct ep_error err = { 0 };
		int rc = scan(bad[i], log, &err);
		if (rc != EP_EINPUT)
			printf("       accepted: %s", bad[i]);
		EXPECT(rc == EP_EINPUT);
		EXPECT(strstr(err.msg, "'t.tf' line ") != NULL);
	}
	char deep[1200] = "";
	for (int i = 0; i < 200; i++)
		memcpy(deep + 4 * i, "a {\n", 5);
	char log[4096];
	struct ep_error err = { 0 };
	EXPECT(scan(deep, log, &err) == EP_EINPUT && strstr(err.msg, "deeper"));
	memset(deep, '[', 1000);
	memcpy(deep, "x = ", 4);
	deep[1000] = '\0';
	EXPECT(scan(deep, log, &err) == EP_EINPUT);
}

TEST(terraform_inventory_of_native_lock_and_json)
{
	struct ep_inventory *inv = ep_inventory_new();
	struct ep_terraform *tf = NULL;
	struct ep_error err = { 0 };
	static const char versions[] = "terraform {\n  required_providers {\n    google = { source = \"hashicorp/google\" }\n"
				       "    acme = { source = \"example.com/Acme/acme\" }\n    legacy = \"1.0\"\n  }\n}\n";
	static const char main_tf[] = "provider \"google\" {}\nprovider \"random\" {}\nmodule \"net\" {\n  source = \"./net\"\n}\n"
				      "module \"dyn\" {\n  source = \"${path.module}/x\"\n}\n"
				      "resource \"google_compute_network\" \"a\" {}\nresource \"google_compute_network\" \"b\" {}\n"
				      "data \"google_client_config\" \"c\" {}\n";
	static const char sub_tf[] = "provider \"acme\" {}\n"; /* another module: the root's declaration is not its own */
	static const char lock[] = "provider \"registry.terraform.io/hashicorp/null\" {\n  version = \"3.2.1\"\n}\n";
	static const char json[] = "{\"//\":\"c\",\"resource\":{\"aws_instance\":{\"x\":{},\"y\":[{}],\"//\":1}},"
				   "\"data\":[{\"aws_ami\":{\"u\":{}}}],\"provider\":{\"aws\":[{},{\"alias\":\"b\"}]},"
				   "\"module\":{\"vpc\":{\"source\":\"terraform-aws-modules/vpc/aws\"}}}";
	EXPECT(ep_terraform_new(&tf, inv, &err) == 0);
	EXPECT(ep_terraform_read_hcl(tf, "versions.tf", versions, strlen(versions), "versions.tf", &err) == 0);
	EXPECT(ep_terraform_read_hcl(tf, "main.tf", main_tf, strlen(main_tf), "main.tf", &err) == 0);
	EXPECT(ep_terraform_read_hcl(tf, "sub/main.tf", sub_tf, strlen(sub_tf), "sub/main.tf", &err) == 0);
	EXPECT(ep_terraform_read_lock(tf, lock, strlen(lock), ".terraform.lock.hcl", &err) == 0);
	EXPECT(ep_terraform_read_json(tf, "aws/main.tf.json", json, strlen(json), "aws/main.tf.json", &err) == 0);
	EXPECT(ep_terraform_read_json(tf, "bad.tf.json", "[1]", 3, "bad.tf.json", &err) == EP_EINPUT);
	EXPECT(ep_terraform_finish(tf, &err) == 0);
	static const char *const providers[] = {
		"example.com/acme/acme",		  "registry.terraform.io/hashicorp/acme",
		"registry.terraform.io/hashicorp/aws",	  "registry.terraform.io/hashicorp/google",
		"registry.terraform.io/hashicorp/legacy", "registry.terraform.io/hashicorp/null",
		"registry.terraform.io/hashicorp/random",
	};
	EXPECT(inv->providers.n == 7);
	for (size_t i = 0; i < 7 && i < inv->providers.n; i++)
		EXPECT(!strcmp(inv->providers.v[i], providers[i]));
	EXPECT(inv->nmodules == 3 && !strcmp(inv->modules[0].name, "net") && !strcmp(inv->modules[0].source, "./net"));
	EXPECT(inv->nmodules == 3 && inv->modules[1].source == NULL && !strcmp(inv->modules[1].path, "main.tf"));
	EXPECT(inv->nmodules == 3 && !strcmp(inv->modules[2].source, "terraform-aws-modules/vpc/aws"));
	EXPECT(inv->resources.n == 2 && !strcmp(inv->resources.v[0].name, "aws_instance") && inv->resources.v[0].count == 2);
	EXPECT(inv->resources.n == 2 && inv->resources.v[1].count == 2);
	EXPECT(inv->data.n == 2 && !strcmp(inv->data.v[0].name, "aws_ami") && inv->data.v[1].count == 1);
	ep_terraform_free(tf);
	ep_inventory_free(inv);
}

/* Objects in tuples and in jsonencode(...) are reported (kubernetes_manifest's containers, ECS's
 * container_definitions); for expressions, other calls and nested tuples are not. */
TEST(hcl_tuples_of_objects)
{
	EXPECT(scans_to("m = {\n  containers = [\n    { name = \"a\", \"image\" = \"nginx\" },\n    {\n      image: \"x\"\n    }\n  ]\n}\n",
			"O0 m\nI1 containers\nA2 name=a\nA2 image=nginx\nE1\nI1 containers\nA2 image=x\nE1\nA1 containers\nE0\n"));
	EXPECT(scans_to("d = jsonencode([\n  {\n    image = \"nginx\" # c\n    ports = [{ p = 80 }]\n  }\n])\n",
			"I0 d\nA1 image=nginx\nI1 ports\nA2 p\nE1\nA1 ports\nE0\nA0 d\n"));
	EXPECT(scans_to("d = jsonencode({ a = \"b\" }) # x\ne = jsonencode ( [ ] )\n", "I0 d\nA1 a=b\nE0\nA0 d\nA0 e\n"));
	EXPECT(scans_to("l = [1, \"]\", [{ a = 1 }], { for k, v in x : k => v }, {}][0]\n", "I0 l\nE0\nA0 l\n"));
	EXPECT(scans_to("l = [for x in y : { a = x }]\nj = jsonencode(var.x)\nk = yamlencode([{ a = 1 }])\n",
			"A0 l\nA0 j\nA0 k\n"));
	EXPECT(scans_to("l = [\n  <<EOF\n]\nEOF\n  , { a = \"]\" }\n]\n", "I0 l\nA1 a=]\nE0\nA0 l\n"));
	char log[4096];
	struct ep_error err = { 0 };
	EXPECT(scan("l = [{ a = 1 }\n", log, &err) == EP_EINPUT);
	EXPECT(scan("l = [{ a = 1 }}\n", log, &err) == EP_EINPUT);
	EXPECT(scan("l = jsonencode([{ a = 1 }]\n", log, &err) == EP_EINPUT);
	char deep[1200] = "x = ";
	for (int i = 0; i < 150; i++)
		memcpy(deep + 4 + 6 * i, "[{a = ", 7);
	EXPECT(scan(deep, log, &err) == EP_EINPUT && strstr(err.msg, "deeper"));
}

struct spans {
	char log[512];
	const char *src;
};

static int span(void *ctx, const struct ep_hcl_item *it, struct ep_error *err)
{
	struct spans *s = ctx;
	(void)err;
	if (it->event == EP_HCL_ATTR && (it->value || it->heredoc)) {
		size_t n = strlen(s->log);
		snprintf(s->log + n, sizeof s->log - n, "%s%s@%zu[%.*s] ", it->heredoc ? "<<" : "", it->name, it->value_at,
			 (int)it->value_len, s->src + it->value_at);
	}
	return 0;
}

/* A literal's bytes as written, escapes and all, where they are: what edits replace. */
TEST(hcl_value_positions)
{
	static const char src[] = "\xef\xbb\xbf" "a = \"x\"\r\nb {\r\n  c = \"q\\\"r\" # \"no\"\r\n  d = \"\"\r\n}\r\n"
				  "e = { \"f\": \"caf\xc3\xa9\" }\ng = \"${h}\"\n";
	struct spans s = { "", src };
	struct ep_error err = { 0 };
	EXPECT(ep_hcl_scan(src, sizeof src - 1, "t.tf", span, &s, &err) == 0);
	EXPECT(!strcmp(s.log, "a@8[x] c@24[q\\\"r] d@45[] f@63[caf\xc3\xa9] "));
	if (strcmp(s.log, "a@8[x] c@24[q\\\"r] d@45[] f@63[caf\xc3\xa9] "))
		printf("       got %s\n", s.log);	/* a heredoc's lines, not its markers; one that is part of an expression is no value */
	static const char doc[] = "h = <<-EOT\n  [{\"image\": \"x\"}]\n  EOT\ni = <<E\nE\nj = (<<E\nE\n) == \"\"\n";
	struct spans d = { "", doc };
	EXPECT(ep_hcl_scan(doc, sizeof doc - 1, "t.tf", span, &d, &err) == 0);
	EXPECT(!strcmp(d.log, "<<h@11[  [{\"image\": \"x\"}]\n] <<i@44[] "));
	if (strcmp(d.log, "<<h@11[  [{\"image\": \"x\"}]\n] <<i@44[] "))
		printf("       got %s\n", d.log);
}

/* Objects in tuples and jsonencode(...) declare no provider or module source of the inventory's. */
TEST(terraform_inventory_skips_inner_objects)
{
	struct ep_inventory *inv = ep_inventory_new();
	struct ep_terraform *tf = NULL;
	struct ep_error err = { 0 };
	static const char src[] = "terraform {\n  required_providers {\n    a = [{ source = \"evil/b\" }]\n"
				  "    c = { source = \"x/c\", d = jsonencode({ source = \"evil/e\" }) }\n  }\n}\n"
				  "module \"m\" {\n  source = \"./m\"\n  v = [{ source = \"./no\" }]\n}\n";
	EXPECT(ep_terraform_new(&tf, inv, &err) == 0);
	EXPECT(ep_terraform_read_hcl(tf, "main.tf", src, strlen(src), "main.tf", &err) == 0);
	EXPECT(ep_terraform_finish(tf, &err) == 0);
	EXPECT(inv->providers.n == 2 && !strcmp(inv->providers.v[0], "registry.terraform.io/hashicorp/a") &&
	       !strcmp(inv->providers.v[1], "registry.terraform.io/x/c"));
	EXPECT(inv->nmodules == 1 && !strcmp(inv->modules[0].source, "./m"));
	ep_terraform_free(tf);
	ep_inventory_free(inv);
}
