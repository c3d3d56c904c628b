/* Prune as forget --prune and prune both run it, reporting as the CLI does. */
#ifndef EP_PRUNE_CLI_H
#define EP_PRUNE_CLI_H

#include <jansson.h>

#include "cli/store_cli.h"

/* Prunes st (locked exclusively by the caller); with out, the figures go there as "prune". */
int cli_prune(struct ep_store *st, bool dry_run, const struct cli_store_args *sa, json_t *out, struct ep_error *err);

#endif
