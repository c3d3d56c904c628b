/*
 * A scanner for HCL's native syntax (Terraform's .tf files, .terraform.lock.hcl)
 * that reports structure, not values: block headers, attributes whose value is
 * one literal string (with where it is, for edits that keep every other byte),
 * and object constructors given as attribute values (as in required_providers),
 * as the elements of a tuple value (containers = [{ ... }]) or as the argument
 * of jsonencode (ECS's container_definitions). It understands enough of the
 * language to never mistake text for structure: comments (#, //, block), quoted
 * strings with escapes and ${...} / %{...} templates (nested to any depth),
 * heredocs (<<EOF, <<-EOF) and bracketed expressions spanning lines. It
 * evaluates nothing.
 */
#ifndef EP_HCL_H
#define EP_HCL_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

#define EP_HCL_MAX_LABELS 4  /* labels kept per block; Terraform uses at most 2 */
#define EP_HCL_MAX_DEPTH 100 /* blocks, objects and brackets nested in one another */

enum ep_hcl_event {
	EP_HCL_BLOCK,  /* name, labels: a block opens */
	EP_HCL_ATTR,   /* name, value: an attribute (or an object item) */
	EP_HCL_OBJECT, /* name: an attribute whose value is an object constructor opens (or one inside it: inner) */
	EP_HCL_END,    /* the innermost open block or object closes */
};

struct ep_hcl_item {
	enum ep_hcl_event event;
	unsigned depth; /* blocks and objects open around the item (END: around the one closing) */
	unsigned line;  /* 1-based, where the item starts */
	const char *name;
	const char *labels[EP_HCL_MAX_LABELS];
	size_t nlabels; /* labels kept, at most EP_HCL_MAX_LABELS */
	const char *value; /* ATTR: the string when the value is one quoted string without templates, else NULL */
	size_t value_at, value_len; /* ATTR with a value: its bytes between the quotes, as written (escapes and all) */
	bool heredoc; /* ATTR: the value is one heredoc, whose lines (not the closing marker's) value_at, value_len give */
	/* OBJECT and its END: the object is not the attribute's value but an element of
	 * its tuple (x = [{...}]) or the argument of jsonencode (x = jsonencode({...}),
	 * jsonencode([{...}])); the attribute's own ATTR follows them */
	bool inner;
};

/* Return non-zero (an EP_E* code, err filled) to stop the scan. */
typedef int (*ep_hcl_fn)(void *ctx, const struct ep_hcl_item *item, struct ep_error *err);

/* Scans src[0..len) (which need not end in NUL). EP_EINPUT names `what` and the
 * line when the text is not HCL; EP_ERUNTIME when memory runs out. */
int ep_hcl_scan(const char *src, size_t len, const char *what, ep_hcl_fn fn, void *ctx, struct ep_error *err);

#endif
