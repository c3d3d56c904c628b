/* Secrets kept in an INI file of the user's (~/.aws/credentials, a boto file): found
 * where an environment variable says, else under $HOME; a file others can read is
 * refused; the text is wiped once read. */
#ifndef EP_CREDFILE_H
#define EP_CREDFILE_H

#include <stddef.h>

#include "base/error.h"

/* The file $var names, else $HOME/home_rel. No file there (or not a regular file, as
 * /dev/null) is no failure: nothing is set. For each keys[i] of [section], a new string
 * in values[i], unless it is set already (free them with ep_secret_free). who starts the
 * refusal ("s3: the credentials file"). */
int ep_ini_secrets(const char *var, const char *home_rel, const char *who, const char *section,
		   const char *const *keys, char **values, size_t n, struct ep_error *err);
/* Wipes and frees a secret string. */
void ep_secret_free(char *s);

#endif
