#include "targets/rewrite.h"

/* Being written: Terraform's container resources by the HCL scanner. */
int ep_rewrite_hcl(enum ep_file_kind kind, const char *text, size_t len, const char *what,
		   const struct ep_rewrite *rules, size_t n, char **out, size_t *out_len, struct ep_error *err)
{
	(void)kind, (void)text, (void)len, (void)what, (void)rules, (void)n, (void)out, (void)out_len, (void)err;
	return 0;
}
