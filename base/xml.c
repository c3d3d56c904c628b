#include "base/xml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/xpathInternals.h>

#include "base/util.h"

#define XML_MAX ((size_t)4 << 20)

static void quiet(void *ctx, const char *msg, ...)
{
	(void)ctx, (void)msg;
}

int ep_xml_load(struct ep_xml *x, const char *path, const char *kind, const char *root, const char *const *ns,
		struct ep_error *err)
{
	char *text = NULL;
	size_t len = 0;
	int rc = ep_read_file(path, XML_MAX, &text, &len, err);
	if (!rc)
		rc = ep_xml_parse(x, text, len, path, kind, root, ns, err);
	free(text);
	return rc;
}

int ep_xml_parse(struct ep_xml *x, const char *text, size_t len, const char *path, const char *kind, const char *root,
		 const char *const *ns, struct ep_error *err)
{
	int rc = 0;
	*x = (struct ep_xml){ .path = path };
	if (len > XML_MAX)
		return ep_fail(err, EP_EINPUT, "%s: '%s' is larger than 4 MiB", kind, path);
	xmlSetGenericErrorFunc(NULL, quiet);
	x->doc = xmlReadMemory(text, (int)len, path, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	xmlNodePtr top = x->doc ? xmlDocGetRootElement(x->doc) : NULL;
	if (!x->doc || !top)
		rc = ep_fail(err, EP_EINPUT, "%s: '%s' is not well-formed XML", kind, path);
	else if (x->doc->intSubset || x->doc->extSubset)
		rc = ep_fail(err, EP_EINPUT, "%s: '%s' has a DOCTYPE, which this format never needs (entities are refused)",
			     kind, path);
	else if (strcmp((const char *)top->name, root) != 0)
		rc = ep_fail(err, EP_EINPUT, "%s: '%s' is not a %s document (its root is <%s>)", kind, path, root, top->name);
	else if (!(x->xp = xmlXPathNewContext(x->doc)))
		rc = ep_oom(err);
	for (size_t i = 0; !rc && ns && ns[i]; i += 2)
		xmlXPathRegisterNs(x->xp, (const xmlChar *)ns[i], (const xmlChar *)ns[i + 1]);
	if (rc)
		ep_xml_release(x);
	return rc;
}

void ep_xml_release(struct ep_xml *x)
{
	xmlXPathFreeContext(x->xp);
	xmlFreeDoc(x->doc);
	x->xp = NULL;
	x->doc = NULL;
}

xmlXPathObjectPtr ep_xml_all(struct ep_xml *x, xmlNodePtr at, const char *expr)
{
	x->xp->node = at;
	return xmlXPathEvalExpression((const xmlChar *)expr, x->xp);
}

char *ep_xml_get(struct ep_xml *x, xmlNodePtr at, const char *expr)
{
	xmlXPathObjectPtr o = ep_xml_all(x, at, expr);
	char *s = NULL;
	if (o && o->nodesetval && o->nodesetval->nodeNr > 0) {
		xmlChar *v = xmlNodeGetContent(o->nodesetval->nodeTab[0]);
		s = v ? strdup((const char *)v) : NULL;
		xmlFree(v);
	}
	xmlXPathFreeObject(o);
	return s;
}

bool ep_xml_num(struct ep_xml *x, xmlNodePtr at, const char *expr, uint64_t *out)
{
	char *s = ep_xml_get(x, at, expr), *end;
	const char *p = s;
	while (p && (*p == ' ' || *p == '\n' || *p == '\t'))
		p++;
	bool ok = p && *p >= '0' && *p <= '9';
	unsigned long long v = ok ? strtoull(p, &end, 10) : 0;
	ok = ok && (!*end || *end == ' ' || *end == '\n');
	free(s);
	if (ok)
		*out = v;
	return ok;
}

xmlNodePtr ep_xml_child(xmlNodePtr parent, xmlNsPtr ns, const char *name, const char *text)
{
	return xmlNewTextChild(parent, ns, (const xmlChar *)name, (const xmlChar *)text);
}

void ep_xml_attr(xmlNodePtr n, xmlNsPtr ns, const char *name, const char *value)
{
	xmlNewNsProp(n, ns, (const xmlChar *)name, (const xmlChar *)value);
}

xmlNodePtr ep_xml_number(xmlNodePtr parent, xmlNsPtr ns, const char *name, uint64_t v)
{
	char buf[32];
	snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
	return ep_xml_child(parent, ns, name, buf);
}

int ep_xml_dump(xmlDocPtr doc, char **out, size_t *len, struct ep_error *err)
{
	xmlChar *text = NULL;
	int n = 0;
	xmlDocDumpFormatMemoryEnc(doc, &text, &n, "UTF-8", 1);
	xmlFreeDoc(doc);
	*out = text ? strdup((const char *)text) : NULL;
	*len = (size_t)n;
	xmlFree(text);
	return *out ? 0 : ep_oom(err);
}
