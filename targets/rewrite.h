/*
 * --rewrite-registry OLD=NEW: container image references moved to another
 * registry in the IaC files a bundle restores. Only references at places that
 * hold container images are changed (containers of Kubernetes objects, Helm
 * values' `image`, Terraform's container resources), found by the file's
 * structure (libyaml's event stream, the HCL scanner) with their byte
 * positions, so every other byte stays as it was; the result is parsed again
 * and refused when it does not read back as meant.
 */
#ifndef EP_REWRITE_H
#define EP_REWRITE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"
#include "formats/bundle/manifest.h"
#include "targets/textedit.h"

struct ep_rewrite {
	const char *from, *to; /* name prefixes: "docker.io", "registry.example:5000/team" */
};

/* Whether OLD=NEW is a rule: each a registry host with an optional path ("docker.io",
 * "quay.io/prometheus", "registry.example:5000/team"); EP_EINPUT naming it when not. */
int ep_rewrite_rule_check(const struct ep_rewrite *rule, struct ep_error *err);

/* The reference ref[0..len) moved by the first rule whose OLD is a prefix of its
 * normalised name (docker.io/library/nginx) at a '/' boundary or the whole name:
 * NEW, the rest of the name, the tag and digest as they were, in out. False when
 * ref is no reference or no rule covers it. nginx:1.25 and docker.io/nginx:1.25
 * come out the same: NEW/library/nginx:1.25 under docker.io=NEW. */
bool ep_rewrite_ref(const struct ep_rewrite *rules, size_t n, const char *ref, size_t len, char *out, size_t cap);

/* Helm's split form, image: {registry: R, repository: P}: the name R/P (or P when R
 * is "") moved as ep_rewrite_ref moves it, given back split the same way (the new
 * domain in registry_out, the rest in repository_out; when R is "" the whole new
 * name in repository_out and registry_out ""). False when no rule covers it. */
bool ep_rewrite_split(const struct ep_rewrite *rules, size_t n, const char *registry, const char *repository,
		      char *registry_out, size_t registry_cap, char *repository_out, size_t repository_cap);

/* Whether files of this kind hold image references ep_rewrite_file understands. */
bool ep_rewrite_applies(enum ep_file_kind kind);

/* Moves the image references of a file of that kind (`what` names it in messages):
 * *out is heap (free()), NULL when nothing changed. A result that would not parse,
 * or would not read back as meant: EP_ERUNTIME naming the file (nothing is changed). */
int ep_rewrite_file(enum ep_file_kind kind, const char *text, size_t len, const char *what,
		    const struct ep_rewrite *rules, size_t n, char **out, size_t *out_len, struct ep_error *err);

/* The two rewriters ep_rewrite_file chooses between, by the file's kind. */
int ep_rewrite_yaml(enum ep_file_kind kind, const char *text, size_t len, const char *what,
		    const struct ep_rewrite *rules, size_t n, char **out, size_t *out_len, struct ep_error *err);
int ep_rewrite_hcl(enum ep_file_kind kind, const char *text, size_t len, const char *what,
		   const struct ep_rewrite *rules, size_t n, char **out, size_t *out_len, struct ep_error *err);

/* What ep_rewrite_hcl does once it knows its edits (sorted, apart): applies them and
 * reads the result back, refusing (EP_ERUNTIME naming `what`, *out NULL) one that does
 * not scan or where an edit's text does not read back as a string literal, at the same
 * place; given apart so that tests can hand it edits it must refuse. */
int ep_rewrite_hcl_edit(const char *what, const char *text, size_t len, const struct ep_text_edit *edits, size_t n,
			char **out, size_t *out_len, struct ep_error *err);

#endif
