/*
 * --set hostname= in cloud-init files, by their YAML structure: libyaml's events
 * say where the top-level keys of a block mapping and their values are, and only
 * those bytes change. Anything else (a #cloud-config-archive list, a flow
 * mapping, YAML that does not parse) is left as it is, with the reason; the
 * result of an edit is read back before it is kept.
 */
#include "targets/retarget.h"
#include "targets/textedit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#define MAX_HITS 16

enum key { K_HOSTNAME, K_FQDN, K_LOCAL, K_NONE };
static const char *const key_names[] = { "hostname", "fqdn", "local-hostname" };

/* A top-level key this edits, and its value as libyaml saw it. */
struct hit {
	enum key key;
	size_t key_end;     /* character index just past the key */
	size_t start, end;  /* the value's character range */
	bool plain_scalar;  /* a plain or quoted scalar without anchor or tag: one that can be written over */
	char quote;         /* '\'' or '"' for a quoted value, else 0 */
	char *value;        /* the scalar's text */
};

struct scan {
	size_t docs;
	bool mapping;        /* the top level is a block mapping */
	size_t first_key;    /* character index where its first key starts */
	struct hit hits[MAX_HITS];
	size_t nhits;
	char why[200];       /* why the file cannot be edited, or "" */
	/* while walking */
	size_t depth;
	bool in_value, seen_key;
	enum key pending;
	size_t pending_end;
};

static void scan_release(struct scan *s)
{
	for (size_t i = 0; i < s->nhits; i++)
		free(s->hits[i].value);
}

static enum key key_of(const yaml_event_t *ev)
{
	for (int k = 0; ev->type == YAML_SCALAR_EVENT && k < K_NONE; k++)
		if (!strcmp((const char *)ev->data.scalar.value, key_names[k]))
			return (enum key)k;
	return K_NONE;
}

static int add_hit(struct scan *s, const yaml_event_t *ev, struct ep_error *err)
{
	if (s->nhits == MAX_HITS) {
		snprintf(s->why, sizeof s->why, "it names its host more than %d times", MAX_HITS);
		return 0;
	}
	struct hit *h = &s->hits[s->nhits];
	*h = (struct hit){ .key = s->pending, .key_end = s->pending_end, .start = ev->start_mark.index,
			   .end = ev->end_mark.index };
	if (ev->type == YAML_SCALAR_EVENT) {
		yaml_scalar_style_t st = ev->data.scalar.style;
		h->plain_scalar = !ev->data.scalar.anchor && !ev->data.scalar.tag &&
				  (st == YAML_PLAIN_SCALAR_STYLE || st == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
				   st == YAML_DOUBLE_QUOTED_SCALAR_STYLE);
		h->quote = st == YAML_SINGLE_QUOTED_SCALAR_STYLE ? '\'' : st == YAML_DOUBLE_QUOTED_SCALAR_STYLE ? '"' : 0;
		if (!(h->value = strdup((const char *)ev->data.scalar.value)))
			return ep_oom(err);
	}
	s->nhits++;
	return 0;
}

/* The root node: only a block mapping is edited. */
static void visit_root(struct scan *s, const yaml_event_t *ev)
{
	if (ev->type == YAML_MAPPING_START_EVENT && ev->data.mapping_start.style == YAML_BLOCK_MAPPING_STYLE)
		s->mapping = true;
	else if (ev->type == YAML_MAPPING_START_EVENT)
		snprintf(s->why, sizeof s->why, "its top level is a flow mapping ({...})");
	else if (ev->type == YAML_SEQUENCE_START_EVENT)
		snprintf(s->why, sizeof s->why, "its top level is a list (as in #cloud-config-archive), not a mapping");
	else
		snprintf(s->why, sizeof s->why, "its top level is not a mapping");
}

/* A node starting: the root, or a key or a value of the root mapping, or deeper. */
static int visit_node(struct scan *s, const yaml_event_t *ev, struct ep_error *err)
{
	int rc = 0;
	if (s->depth == 0) {
		visit_root(s, ev);
	} else if (s->depth == 1 && !s->in_value) {
		if (!s->seen_key)
			s->first_key = ev->start_mark.index;
		s->seen_key = s->in_value = true;
		s->pending = key_of(ev);
		s->pending_end = ev->end_mark.index;
	} else if (s->depth == 1) {
		s->in_value = false;
		if (s->pending != K_NONE)
			rc = add_hit(s, ev, err);
	}
	if (ev->type == YAML_MAPPING_START_EVENT || ev->type == YAML_SEQUENCE_START_EVENT)
		s->depth++;
	return rc;
}

static int visit(struct scan *s, const yaml_event_t *ev, struct ep_error *err)
{
	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (++s->docs > 1)
			snprintf(s->why, sizeof s->why, "it holds more than one YAML document");
		return 0;
	case YAML_SCALAR_EVENT:
	case YAML_ALIAS_EVENT:
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		return visit_node(s, ev, err);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		s->depth--;
		return 0;
	default:
		return 0;
	}
}

/* Walks text's events; what cannot be edited is left in s->why. */
static int scan(const char *text, size_t len, struct scan *s, struct ep_error *err)
{
	yaml_parser_t p;
	*s = (struct scan){ .pending = K_NONE };
	if (!yaml_parser_initialize(&p))
		return ep_oom(err);
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	int rc = 0;
	for (bool end = false; !rc && !end && !*s->why;) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&p, &ev)) {
			if (p.error == YAML_MEMORY_ERROR)
				rc = ep_oom(err);
			else
				snprintf(s->why, sizeof s->why, "it is not valid YAML (%s at line %zu)",
					 p.problem ? p.problem : "malformed", p.problem_mark.line + 1);
			break;
		}
		end = ev.type == YAML_STREAM_END_EVENT;
		rc = visit(s, &ev, err);
		yaml_event_delete(&ev);
	}
	if (!rc && !*s->why && p.encoding != YAML_UTF8_ENCODING) /* marks would count UTF-16 units */
		snprintf(s->why, sizeof s->why, "it is encoded in UTF-16, not UTF-8");
	yaml_parser_delete(&p);
	return rc;
}

/* ---- edits ---- */

/* Marks are looked up out of order here (a key after its value): each from the start. */
static size_t byte_at(const char *text, size_t len, size_t chars)
{
	struct ep_yaml_cursor c = { 0, 0 };
	return ep_yaml_byte_at(text, len, &c, chars);
}

/* Whether YAML 1.1 (PyYAML, which cloud-init reads with) would take v, written plain, for
 * something other than a string: a number or date (it starts with a digit), a boolean, a null. */
static bool needs_quotes(const char *v)
{
	static const char *const words[] = { "y", "yes", "n", "no", "true", "false", "on", "off", "null", NULL };
	if (*v >= '0' && *v <= '9')
		return true;
	for (const char *const *w = words; *w; w++)
		if (!strcasecmp(v, *w))
			return true;
	return false;
}

/* The value to write for key: the new host name; for fqdn the domain stays unless the name has one. */
static int new_value(const struct hit *h, const char *hostname, char *out, size_t cap, char *why, size_t why_cap)
{
	const char *dot = h->key == K_FQDN && !strchr(hostname, '.') && h->value ? strchr(h->value, '.') : NULL;
	snprintf(out, cap, "%s%s", hostname, dot ? dot : "");
	if (ep_hostname_ok(out))
		return 0;
	snprintf(why, why_cap, "its fqdn '%.64s' does not end in a domain name", h->value);
	return -1;
}

static void quoted(char quote, const char *v, char *out, size_t cap)
{
	if (!quote && needs_quotes(v))
		quote = '"';
	if (quote)
		snprintf(out, cap, "%c%s%c", quote, v, quote);
	else
		snprintf(out, cap, "%s", v);
}

/* The edit that sets h's value to v: over the scalar, or after the colon of an empty one. */
static int value_edit(const char *text, size_t len, const struct hit *h, const char *v, struct ep_text_edit *e, char *why,
		      size_t why_cap)
{
	if (!h->plain_scalar) {
		snprintf(why, why_cap, "its %s: value is not a plain or quoted scalar", key_names[h->key]);
		return -1;
	}
	e->at = byte_at(text, len, h->start);
	e->del = byte_at(text, len, h->end) - e->at;
	if (e->del == 0) { /* `hostname:` with no value: libyaml marks it after what follows */
		size_t at = byte_at(text, len, h->key_end);
		while (at < len && text[at] == ' ')
			at++;
		if (at == len || text[at] != ':') {
			snprintf(why, why_cap, "its empty %s: key is not followed by a colon", key_names[h->key]);
			return -1;
		}
		e->at = at + 1;
		e->text[0] = ' ';
		quoted(h->quote, v, e->text + 1, sizeof e->text - 1);
		return 0;
	}
	quoted(h->quote, v, e->text, sizeof e->text);
	return 0;
}

/* A `hostname:` key on a line of its own before the mapping's first key, indented as it is. */
static int insert_edit(const char *text, size_t len, size_t first_key, const char *hostname, const char *eol,
		       struct ep_text_edit *e, char *why, size_t why_cap)
{
	size_t key = byte_at(text, len, first_key), line = key;
	while (line > 0 && text[line - 1] != '\n')
		line--;
	for (size_t i = line; i < key; i++)
		if (text[i] != ' ' || key - line > 256) {
			snprintf(why, why_cap, "its first key does not start its line");
			return -1;
		}
	char v[300];
	quoted(0, hostname, v, sizeof v);
	e->at = line;
	e->del = 0;
	snprintf(e->text, sizeof e->text, "%.*shostname: %s%s", (int)(key - line), text + line, v, eol);
	return 0;
}

/* ---- the whole file ---- */

static bool has_header(const char *text, size_t len)
{
	static const char h[] = "#cloud-config";
	size_t n = sizeof h - 1;
	return len >= n && !memcmp(text, h, n) && (len == n || strchr(" \t\r\n", text[n]));
}

/* Whether a file left as it is should be warned about: a cloud-config of any kind, one naming a
 * host, or one in UTF-16 (whose words these byte comparisons cannot see). */
static bool worth_a_warning(const char *text, size_t len)
{
	return (len >= 13 && !memcmp(text, "#cloud-config", 13)) || memmem(text, len, "hostname", 8) ||
	       memmem(text, len, "fqdn", 4) || (len >= 2 && (!memcmp(text, "\xFF\xFE", 2) || !memcmp(text, "\xFE\xFF", 2)));
}

/* Reads the result back: one block mapping whose keys hold the values meant (values[i] for the i-th). */
static int check_result(const char *text, size_t len, char values[][300], size_t n, const char *what,
			struct ep_error *err)
{
	struct scan s;
	int rc = scan(text, len, &s, err);
	bool ok = !rc && !*s.why && s.docs == 1 && s.mapping && s.nhits == n;
	for (size_t i = 0; ok && i < n; i++)
		ok = s.hits[i].value && !strcmp(s.hits[i].value, values[i]);
	scan_release(&s);
	if (!rc && !ok)
		rc = ep_fail(err, EP_ERUNTIME, "setting the host name in '%s' would not leave a cloud-config that reads back%s%s; refusing it",
			     what, *s.why ? ": " : "", s.why);
	return rc;
}

/* The edits for a scanned file, in order; -1 (why set) when it cannot be edited safely. */
static int plan(const char *text, size_t len, const struct scan *s, const char *hostname, struct ep_text_edit *edits,
		size_t *n, char values[][300], char *why, size_t why_cap)
{
	const char *nl = memchr(text, '\n', len);
	const char *eol = nl && nl > text && nl[-1] == '\r' ? "\r\n" : "\n";
	bool header = has_header(text, len), named = false;
	*n = 0;
	if (*s->why) {
		snprintf(why, why_cap, "%s", s->why);
		return -1;
	}
	for (size_t i = 0; i < s->nhits; i++)
		named |= s->hits[i].key == K_HOSTNAME;
	if (header && !named && s->docs == 0) { /* nothing but comments: one key after the header line */
		size_t at = nl ? (size_t)(nl - text) + 1 : len;
		edits[0].at = at;
		edits[0].del = 0;
		snprintf(edits[0].text, sizeof edits[0].text, "%shostname: %s%s", nl ? "" : eol, hostname, eol);
		snprintf(values[(*n)++], 300, "%s", hostname);
		return 0;
	}
	if (!s->mapping)
		return 0; /* an empty file without a header: nothing to do */
	if (header && !named) {
		if (insert_edit(text, len, s->first_key, hostname, eol, &edits[0], why, why_cap))
			return -1;
		snprintf(values[(*n)++], 300, "%s", hostname);
	}
	for (size_t i = 0; i < s->nhits; i++) {
		if (new_value(&s->hits[i], hostname, values[*n], 300, why, why_cap) ||
		    value_edit(text, len, &s->hits[i], values[*n], &edits[*n], why, why_cap))
			return -1;
		(*n)++;
	}
	return 0;
}

int ep_set_hostname(const char *text, size_t len, const char *hostname, const char *what, char **out, size_t *out_len,
		    char *why, size_t why_cap, struct ep_error *err)
{
	struct scan s = { 0 };
	struct ep_text_edit *edits = calloc(MAX_HITS + 1, sizeof *edits);
	char(*values)[300] = calloc(MAX_HITS + 1, sizeof *values);
	size_t n = 0;
	*out = NULL;
	*out_len = 0;
	*why = '\0';
	int rc = edits && values ? scan(text, len, &s, err) : ep_oom(err);
	if (rc) {
		scan_release(&s);
		free(edits);
		free(values);
		return rc;
	}
	if (plan(text, len, &s, hostname, edits, &n, values, why, why_cap) || n == 0) {
		if (!worth_a_warning(text, len))
			*why = '\0';
	} else if (!(rc = ep_text_apply(text, len, edits, n, out, out_len, err)) &&
		   (rc = check_result(*out, *out_len, values, n, what, err))) {
		free(*out);
		*out = NULL;
		*out_len = 0;
	}
	scan_release(&s);
	free(edits);
	free(values);
	return rc;
}
