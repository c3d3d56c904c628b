#include "targets/rewrite.h"

/* Being written: Kubernetes objects, Kustomizations and Helm values by libyaml's event stream. */
int ep_rewrite_yaml(enum ep_file_kind kind, const char *text, size_t len, const char *what,
		    const struct ep_rewrite *rules, size_t n, char **out, size_t *out_len, struct ep_error *err)
{
	(void)kind, (void)text, (void)len, (void)what, (void)rules, (void)n, (void)out, (void)out_len, (void)err;
	return 0;
}
