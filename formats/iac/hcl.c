#include "formats/iac/hcl.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

/* A NUL-terminated growing string. */
struct text {
	char *p;
	size_t n, cap;
};

struct scanner {
	const char *s;
	size_t len, pos;
	unsigned line;
	unsigned nest; /* bodies, objects and templates open: the recursion depth */
	const char *what;
	ep_hcl_fn fn;
	void *ctx;
	struct ep_error *err;
	struct text name, value, labels[EP_HCL_MAX_LABELS], scratch;
};

/* What ends an expression: a newline in a body, a newline or ',' in an object,
 * ',' or ']' in a tuple (neither consumed), or (for templates, parenthesised keys
 * and call arguments) the closing bracket, which is consumed. */
enum ending { END_BODY, END_ITEM, END_ELEMENT, END_CLOSE };

__attribute__((format(printf, 3, 4))) static int fail(struct scanner *sc, unsigned line, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return ep_fail(sc->err, EP_EINPUT, "hcl: '%s' line %u: %s", sc->what, line, msg);
}

static int at(const struct scanner *sc, size_t k)
{
	return sc->pos + k < sc->len ? (unsigned char)sc->s[sc->pos + k] : -1;
}

static void advance(struct scanner *sc)
{
	if (sc->s[sc->pos++] == '\n')
		sc->line++;
}

static int put(struct scanner *sc, struct text *t, const char *p, size_t n)
{
	if (!t)
		return 0;
	if (!ep_grow((void **)&t->p, &t->cap, t->n + n + 1, 1))
		return ep_oom(sc->err);
	memcpy(t->p + t->n, p, n);
	t->n += n;
	t->p[t->n] = '\0';
	return 0;
}

static int set(struct scanner *sc, struct text *t, const char *p, size_t n)
{
	if (t)
		t->n = 0;
	return put(sc, t, p, n);
}

/* Recursion is bounded so that no input exhausts the stack. */
static int enter(struct scanner *sc)
{
	return ++sc->nest > EP_HCL_MAX_DEPTH ? fail(sc, sc->line, "nests deeper than %d", EP_HCL_MAX_DEPTH) : 0;
}

static bool id_start(int c)
{
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}

static size_t ident(const struct scanner *sc)
{
	size_t n = 0;
	if (!id_start(at(sc, 0)))
		return 0;
	for (int c; (c = at(sc, n)) != -1 && (id_start(c) || c == '-' || (c >= '0' && c <= '9'));)
		n++;
	return n;
}

/* Skips spaces and comments, and newlines too when they mean nothing here. */
static int skip_blank(struct scanner *sc, bool newlines)
{
	for (;;) {
		int c = at(sc, 0);
		if (c == ' ' || c == '\t' || c == '\r' || (c == '\n' && newlines)) {
			advance(sc);
		} else if (c == '#' || (c == '/' && at(sc, 1) == '/')) {
			while ((c = at(sc, 0)) != -1 && c != '\n')
				sc->pos++;
		} else if (c == '/' && at(sc, 1) == '*') {
			unsigned line = sc->line;
			sc->pos += 2;
			while (!(at(sc, 0) == '*' && at(sc, 1) == '/')) {
				if (at(sc, 0) == -1)
					return fail(sc, line, "unterminated comment");
				advance(sc);
			}
			sc->pos += 2;
		} else {
			return 0;
		}
	}
}

static int hex_value(const struct scanner *sc, size_t from, size_t digits, uint32_t *out)
{
	uint32_t v = 0;
	for (size_t i = 0; i < digits; i++) {
		int c = at(sc, from + i);
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (d < 0)
			return -1;
		v = v << 4 | (uint32_t)d;
	}
	*out = v;
	return 0;
}

static int put_utf8(struct scanner *sc, struct text *t, uint32_t cp)
{
	char b[4];
	size_t n;
	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | cp >> 6);
		b[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | cp >> 12);
		b[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (char)(0xf0 | cp >> 18);
		b[1] = (char)(0x80 | (cp >> 12 & 0x3f));
		b[2] = (char)(0x80 | (cp >> 6 & 0x3f));
		b[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return put(sc, t, b, n);
}

/* At a backslash: appends what the escape stands for. */
static int escape(struct scanner *sc, struct text *out)
{
	static const char simple[] = "n\nr\rt\t\"\"\\\\";
	int c = at(sc, 1);
	const char *hit = c > 0 ? memchr(simple, c, sizeof simple - 1) : NULL;
	if (hit && (hit - simple) % 2 == 0) {
		sc->pos += 2;
		return put(sc, out, hit + 1, 1);
	}
	size_t digits = c == 'u' ? 4 : c == 'U' ? 8 : 0;
	uint32_t cp;
	if (!digits || hex_value(sc, 2, digits, &cp) || cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return fail(sc, sc->line, "invalid escape sequence in a string");
	sc->pos += 2 + digits;
	return put_utf8(sc, out, cp);
}

static int skip_expr(struct scanner *sc, enum ending ending, int closer);

/* At '"': scans a quoted template, decoding it into out (when given) unless it holds
 * interpolations or directives, which *templated then says. */
static int quoted(struct scanner *sc, struct text *out, bool *templated)
{
	unsigned line = sc->line;
	int rc = set(sc, out, "", 0);
	*templated = false;
	sc->pos++;
	while (!rc) {
		int c = at(sc, 0);
		if (c == -1 || c == '\n')
			return fail(sc, line, "unterminated string");
		if (c == '"') {
			sc->pos++;
			return 0;
		}
		if (c == '\\') {
			rc = escape(sc, out);
		} else if ((c == '$' || c == '%') && at(sc, 1) == c && at(sc, 2) == '{') {
			/* "$${" and "%%{" stand for a literal "${" and "%{" */
			sc->pos += 3;
			rc = put(sc, out, c == '$' ? "${" : "%{", 2);
		} else if ((c == '$' || c == '%') && at(sc, 1) == '{') {
			*templated = true;
			sc->pos += 2;
			if (!(rc = enter(sc)))
				rc = skip_expr(sc, END_CLOSE, '}');
			sc->nest--;
		} else {
			rc = put(sc, out, sc->s + sc->pos, 1);
			sc->pos++;
		}
	}
	return rc;
}

/* At "<<": skips a heredoc up to its closing marker line, leaving the newline after it;
 * its lines are src[body[0]..body[1]), the closing marker's excluded. The closing
 * marker may be indented, in both forms. */
static int heredoc(struct scanner *sc, size_t body[2])
{
	unsigned line = sc->line;
	sc->pos += at(sc, 2) == '-' ? 3 : 2;
	size_t mlen = ident(sc);
	const char *marker = sc->s + sc->pos;
	if (!mlen)
		return fail(sc, line, "a heredoc needs a marker after '<<'");
	sc->pos += mlen;
	while (at(sc, 0) == ' ' || at(sc, 0) == '\t' || at(sc, 0) == '\r')
		sc->pos++;
	if (at(sc, 0) != '\n')
		return fail(sc, line, "a heredoc marker must end its line");
	advance(sc);
	body[0] = sc->pos;
	for (;;) {
		size_t start = sc->pos;
		while (at(sc, 0) == ' ' || at(sc, 0) == '\t')
			sc->pos++;
		if (sc->len - sc->pos >= mlen && !memcmp(sc->s + sc->pos, marker, mlen)) {
			size_t end = sc->pos + mlen;
			while (end < sc->len && (sc->s[end] == ' ' || sc->s[end] == '\t' || sc->s[end] == '\r'))
				end++;
			if (end == sc->len || sc->s[end] == '\n') {
				body[1] = start;
				sc->pos = end;
				return 0;
			}
		}
		const char *nl = memchr(sc->s + start, '\n', sc->len - start);
		if (!nl)
			return fail(sc, line, "unterminated heredoc (no line '%.*s')", (int)(mlen > 64 ? 64 : mlen), marker);
		sc->pos = (size_t)(nl - sc->s) + 1;
		sc->line++;
	}
}

/* Skips an expression up to its end (see enum ending), balancing brackets and
 * stepping over strings, heredocs and comments. Newlines mean nothing inside brackets. */
static int skip_expr(struct scanner *sc, enum ending ending, int closer)
{
	char open[EP_HCL_MAX_DEPTH];
	size_t depth = 0;
	unsigned line = sc->line;
	bool bracketed = ending == END_CLOSE || ending == END_ELEMENT; /* newlines mean nothing */
	for (;;) {
		int rc = skip_blank(sc, depth > 0 || bracketed);
		int c = at(sc, 0);
		if (rc)
			return rc;
		if (c == -1) {
			if (depth > 0 || bracketed)
				return fail(sc, line, "unclosed bracket");
			return 0;
		}
		if (depth == 0) {
			if (ending == END_CLOSE && c == closer) {
				sc->pos++;
				return 0;
			}
			if (ending == END_ELEMENT && (c == ',' || c == ']'))
				return 0;
			if (!bracketed && (c == '\n' || c == '}' || (ending == END_ITEM && c == ',')))
				return 0;
		}
		if (c == '(' || c == '[' || c == '{') {
			if (depth == sizeof open)
				return fail(sc, sc->line, "brackets nest deeper than %d", EP_HCL_MAX_DEPTH);
			open[depth++] = (char)(c == '(' ? ')' : c == '[' ? ']' : '}');
			sc->pos++;
		} else if (c == ')' || c == ']' || c == '}') {
			if (depth == 0 || open[depth - 1] != c)
				return fail(sc, sc->line, "unbalanced '%c'", c);
			depth--;
			sc->pos++;
		} else if (c == '"') {
			bool templated;
			if ((rc = quoted(sc, NULL, &templated)))
				return rc;
		} else if (c == '<' && at(sc, 1) == '<') {
			size_t body[2];
			if ((rc = heredoc(sc, body)))
				return rc;
		} else {
			advance(sc);
		}
	}
}

/* A block (with its labels) or its END. */
static int emit(struct scanner *sc, enum ep_hcl_event event, unsigned depth, unsigned line, const char *name,
		size_t nlabels)
{
	struct ep_hcl_item item = { .event = event, .depth = depth, .line = line, .name = name, .nlabels = nlabels };
	for (size_t i = 0; i < nlabels; i++)
		item.labels[i] = sc->labels[i].p;
	return sc->fn(sc->ctx, &item, sc->err);
}

/* An attribute; its value when one literal string, which is src[at..at+len) as written. */
static int emit_attr(struct scanner *sc, unsigned depth, unsigned line, const char *name, const char *value,
		     size_t at, size_t len)
{
	struct ep_hcl_item item = { .event = EP_HCL_ATTR, .depth = depth, .line = line, .name = name, .value = value,
				    .value_at = value ? at : 0, .value_len = value ? len : 0 };
	return sc->fn(sc->ctx, &item, sc->err);
}

/* An attribute whose value is one heredoc, its lines src[body[0]..body[1]). */
static int emit_heredoc(struct scanner *sc, unsigned depth, unsigned line, const char *name, const size_t body[2])
{
	struct ep_hcl_item item = { .event = EP_HCL_ATTR, .depth = depth, .line = line, .name = name, .heredoc = true,
				    .value_at = body[0], .value_len = body[1] - body[0] };
	return sc->fn(sc->ctx, &item, sc->err);
}

static bool at_end(const struct scanner *sc, enum ending ending)
{
	int c = at(sc, 0);
	return c == -1 || c == '\n' || c == '}' || (ending == END_ITEM && c == ',');
}

/* Whether the '{' or '[' here opens a for expression rather than an object or a tuple. */
static bool for_expression(struct scanner *sc)
{
	size_t pos = sc->pos;
	unsigned line = sc->line;
	sc->pos++;
	bool is_for = !skip_blank(sc, true) && ident(sc) == 3 && !memcmp(sc->s + sc->pos, "for", 3);
	if (is_for) {
		sc->pos += 3;
		is_for = !skip_blank(sc, true) && id_start(at(sc, 0));
	}
	sc->pos = pos;
	sc->line = line;
	return is_for;
}

static int object(struct scanner *sc, unsigned depth);

/* At '{': an object reported as OBJECT (inner when it is not the attribute's value itself), its items, END. */
static int object_value(struct scanner *sc, const char *name, unsigned depth, bool inner)
{
	struct ep_hcl_item open = { .event = EP_HCL_OBJECT, .depth = depth, .line = sc->line, .name = name, .inner = inner };
	int rc;
	sc->pos++;
	if ((rc = sc->fn(sc->ctx, &open, sc->err)) || (rc = enter(sc)) || (rc = object(sc, depth + 1)))
		return rc;
	sc->nest--;
	struct ep_hcl_item end = { .event = EP_HCL_END, .depth = depth, .line = sc->line, .inner = inner };
	return sc->fn(sc->ctx, &end, sc->err);
}

/* At '[': a tuple's elements up to its ']' (consumed); those that are objects reported under name. */
static int tuple(struct scanner *sc, const char *name, unsigned depth)
{
	sc->pos++;
	int rc = enter(sc);
	while (!rc && !(rc = skip_blank(sc, true))) {
		if (at(sc, 0) == ']') {
			sc->pos++;
			sc->nest--;
			return 0;
		}
		if (at(sc, 0) == '{' && !for_expression(sc))
			rc = object_value(sc, name, depth, true);
		if (!rc)
			rc = skip_expr(sc, END_ELEMENT, 0);
		if (!rc && at(sc, 0) == ',')
			sc->pos++;
	}
	return rc;
}

/* Whether a value starts with jsonencode( and a tuple or an object, which is then
 * where the scan stands; else the scan stays where it was. */
static bool jsonencode_call(struct scanner *sc)
{
	static const char fn[] = "jsonencode";
	size_t pos = sc->pos;
	unsigned line = sc->line;
	if (ident(sc) == sizeof fn - 1 && !memcmp(sc->s + sc->pos, fn, sizeof fn - 1)) {
		sc->pos += sizeof fn - 1;
		if (!skip_blank(sc, false) && at(sc, 0) == '(') {
			sc->pos++;
			if (!skip_blank(sc, true) && (at(sc, 0) == '[' || at(sc, 0) == '{') && !for_expression(sc))
				return true;
		}
	}
	sc->pos = pos;
	sc->line = line;
	return false;
}

/* At the '[' or '{' of a value whose objects are inner ones (a tuple's, the argument
 * of a call to jsonencode when in_call), then the rest of it (the call's ')' too) and
 * the attribute's ATTR. name is copied: the objects' keys overwrite sc->name. */
static int inner_objects(struct scanner *sc, const char *name, unsigned depth, unsigned line, enum ending ending,
			 bool in_call)
{
	char *own = strdup(name);
	if (!own)
		return ep_oom(sc->err);
	int rc = at(sc, 0) == '[' ? tuple(sc, own, depth) : object_value(sc, own, depth, true);
	if (!rc && in_call)
		rc = skip_expr(sc, END_CLOSE, ')');
	if (!rc && !(rc = skip_expr(sc, ending, 0)))
		rc = emit_attr(sc, depth, line, own, NULL, 0, 0);
	free(own);
	return rc;
}

/* An attribute's value, after '='; name is NULL when the key is no literal. */
static int attr_value(struct scanner *sc, const char *name, unsigned depth, enum ending ending)
{
	unsigned line = sc->line;
	int rc = skip_blank(sc, false);
	if (rc)
		return rc;
	if (at(sc, 0) == '"') {
		size_t start = sc->pos + 1;
		bool templated;
		if ((rc = quoted(sc, &sc->value, &templated)))
			return rc;
		size_t end = sc->pos - 1; /* the closing quote */
		if ((rc = skip_blank(sc, false)))
			return rc;
		if (at_end(sc, ending))
			return name ? emit_attr(sc, depth, line, name, templated ? NULL : sc->value.p, start, end - start) : 0;
	} else if (name && at(sc, 0) == '{' && !for_expression(sc)) {
		if ((rc = object_value(sc, name, depth, false)))
			return rc;
		return skip_expr(sc, ending, 0);
	} else if (name && at(sc, 0) == '<' && at(sc, 1) == '<') {
		size_t body[2];
		if ((rc = heredoc(sc, body)) || (rc = skip_blank(sc, false)))
			return rc;
		if (at_end(sc, ending))
			return emit_heredoc(sc, depth, line, name, body);
	} else if (name && at(sc, 0) == '[' && !for_expression(sc)) {
		return inner_objects(sc, name, depth, line, ending, false);
	} else if (name && jsonencode_call(sc)) {
		return inner_objects(sc, name, depth, line, ending, true);
	}
	if ((rc = skip_expr(sc, ending, 0)))
		return rc;
	return name ? emit_attr(sc, depth, line, name, NULL, 0, 0) : 0;
}

/* The items of an object constructor, after its '{', up to and including its '}'. */
static int object(struct scanner *sc, unsigned depth)
{
	unsigned line = sc->line;
	for (;;) {
		int rc = skip_blank(sc, true);
		int c = at(sc, 0);
		bool literal = true;
		if (rc)
			return rc;
		if (c == -1)
			return fail(sc, line, "unclosed object");
		if (c == '}') {
			sc->pos++;
			return 0;
		}
		size_t n = ident(sc);
		if (n) {
			rc = set(sc, &sc->name, sc->s + sc->pos, n);
			sc->pos += n;
		} else if (c == '"') {
			bool templated;
			rc = quoted(sc, &sc->name, &templated);
			literal = !templated;
		} else if (c == '(') {
			sc->pos++;
			rc = skip_expr(sc, END_CLOSE, ')');
			literal = false;
		} else {
			return fail(sc, sc->line, "expected an object key");
		}
		if (rc || (rc = skip_blank(sc, false)))
			return rc;
		if (!((at(sc, 0) == '=' && at(sc, 1) != '=') || at(sc, 0) == ':'))
			return fail(sc, sc->line, "expected '=' or ':' after an object key");
		sc->pos++;
		if ((rc = attr_value(sc, literal ? sc->name.p : NULL, depth, END_ITEM)) || (rc = skip_blank(sc, false)))
			return rc;
		if (at(sc, 0) == ',')
			sc->pos++;
		else if (!at_end(sc, END_ITEM) || at(sc, 0) == -1)
			return fail(sc, sc->line, "expected ',' or a newline after an object item");
	}
}

/* A body: attributes and blocks up to its '}' (consumed), or the end of the file at depth 0. */
static int body(struct scanner *sc, unsigned depth)
{
	unsigned open_line = sc->line;
	for (;;) {
		int rc = skip_blank(sc, true);
		int c = at(sc, 0);
		if (rc)
			return rc;
		if (c == -1)
			return depth ? fail(sc, open_line, "unclosed block") : 0;
		if (c == '}') {
			if (!depth)
				return fail(sc, sc->line, "unexpected '}'");
			sc->pos++;
			return 0;
		}
		unsigned line = sc->line;
		size_t n = ident(sc);
		if (!n)
			return fail(sc, line, "expected an attribute or a block");
		if ((rc = set(sc, &sc->name, sc->s + sc->pos, n)))
			return rc;
		sc->pos += n;
		if ((rc = skip_blank(sc, false)))
			return rc;
		if (at(sc, 0) == '=' && at(sc, 1) != '=') {
			sc->pos++;
			if ((rc = attr_value(sc, sc->name.p, depth, END_BODY)) || (rc = skip_blank(sc, false)))
				return rc;
			c = at(sc, 0);
			if (!(c == -1 || c == '\n' || (c == '}' && depth)))
				return fail(sc, sc->line, "expected a newline after an attribute");
			continue;
		}
		size_t nlabels = 0;
		for (;;) {
			struct text *label = nlabels < EP_HCL_MAX_LABELS ? &sc->labels[nlabels] : &sc->scratch;
			bool templated = false;
			if (at(sc, 0) == '"') {
				rc = quoted(sc, label, &templated);
			} else if ((n = ident(sc))) {
				rc = set(sc, label, sc->s + sc->pos, n);
				sc->pos += n;
			} else {
				break;
			}
			if (!rc && templated)
				rc = fail(sc, sc->line, "a block label cannot hold a template");
			if (rc || (rc = skip_blank(sc, false)))
				return rc;
			nlabels++;
		}
		if (at(sc, 0) != '{')
			return fail(sc, sc->line, "expected '=' or a block's '{' after '%s'", sc->name.p);
		sc->pos++;
		size_t kept = nlabels < EP_HCL_MAX_LABELS ? nlabels : EP_HCL_MAX_LABELS;
		if ((rc = emit(sc, EP_HCL_BLOCK, depth, line, sc->name.p, kept)) || (rc = enter(sc)) ||
		    (rc = body(sc, depth + 1)))
			return rc;
		sc->nest--;
		if ((rc = emit(sc, EP_HCL_END, depth, sc->line, NULL, 0)))
			return rc;
	}
}

int ep_hcl_scan(const char *src, size_t len, const char *what, ep_hcl_fn fn, void *ctx, struct ep_error *err)
{
	struct scanner sc = { .s = src, .len = len, .line = 1, .what = what, .fn = fn, .ctx = ctx, .err = err };
	if (len >= 3 && !memcmp(src, "\xef\xbb\xbf", 3))
		sc.pos = 3; /* a UTF-8 byte order mark, as editors on Windows write */
	int rc = body(&sc, 0);
	free(sc.name.p);
	free(sc.value.p);
	free(sc.scratch.p);
	for (size_t i = 0; i < EP_HCL_MAX_LABELS; i++)
		free(sc.labels[i].p);
	return rc;
}
