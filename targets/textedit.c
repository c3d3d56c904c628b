#include "targets/textedit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ep_text_apply(const char *text, size_t len, const struct ep_text_edit *edits, size_t n, char **out,
		  size_t *out_len, struct ep_error *err)
{
	char *buf = NULL;
	size_t blen = 0, at = 0;
	FILE *f = open_memstream(&buf, &blen);
	if (!f)
		return ep_oom(err);
	for (size_t i = 0; i < n; i++) {
		fwrite(text + at, 1, edits[i].at - at, f);
		fputs(edits[i].text, f);
		at = edits[i].at + edits[i].del;
	}
	fwrite(text + at, 1, len - at, f);
	if (fclose(f) != 0) {
		free(buf);
		return ep_oom(err);
	}
	*out = buf;
	*out_len = blen;
	return 0;
}

size_t ep_yaml_byte_at(const char *text, size_t len, struct ep_yaml_cursor *c, size_t chars)
{
	if (chars < c->chars || (c->chars == 0 && c->bytes == 0)) {
		c->chars = 0;
		c->bytes = len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3) ? 3 : 0;
	}
	for (; c->bytes < len && c->chars < chars; c->chars++)
		for (c->bytes++; c->bytes < len && ((unsigned char)text[c->bytes] & 0xC0) == 0x80; c->bytes++)
			;
	return c->bytes;
}
