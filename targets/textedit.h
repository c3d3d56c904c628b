/*
 * Edits of a text file that keep every byte they do not touch: what retargeting
 * (--set hostname=, --rewrite-registry) does to configuration a person wrote,
 * with its comments, quotes and indentation.
 */
#ifndef EP_TEXTEDIT_H
#define EP_TEXTEDIT_H

#include <stddef.h>

#include "base/error.h"

struct ep_text_edit {
	size_t at, del; /* bytes of the original replaced by text */
	char text[1100];
};

/* The edited text (heap, free()), edits sorted by `at` and not overlapping; EP_ERUNTIME when memory runs out. */
int ep_text_apply(const char *text, size_t len, const struct ep_text_edit *edits, size_t n, char **out,
		  size_t *out_len, struct ep_error *err);

/* libyaml's marks count characters (a UTF-8 sequence is one), after a byte order
 * mark; this turns them into byte offsets. cursor remembers where the last one
 * was, so a walk through marks in order reads the text once ({0, 0} to start). */
struct ep_yaml_cursor {
	size_t chars, bytes;
};
size_t ep_yaml_byte_at(const char *text, size_t len, struct ep_yaml_cursor *cursor, size_t chars);

#endif
