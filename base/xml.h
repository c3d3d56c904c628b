/* XML over libxml2, for the VM definitions and the S3 answers: loading
 * untrusted XML safely, XPath look-ups, and building documents. */
#ifndef EP_VM_XML_H
#define EP_VM_XML_H

#include <stdbool.h>
#include <stdint.h>

#include <libxml/tree.h>
#include <libxml/xpath.h>

#include "base/error.h"

struct ep_xml {
	const char *path; /* for messages */
	xmlDocPtr doc;
	xmlXPathContextPtr xp;
};

/* Parses the file (at most 4 MiB): no DTD (so no entity, internal or external),
 * nothing fetched; `kind` names the format in messages. ns: prefix/URI pairs
 * for XPath, NULL-terminated. The root element must be `root`. */
int ep_xml_load(struct ep_xml *x, const char *path, const char *kind, const char *root, const char *const *ns,
		struct ep_error *err);
/* The same on len bytes in memory; `path` names them in messages. */
int ep_xml_parse(struct ep_xml *x, const char *text, size_t len, const char *path, const char *kind, const char *root,
		 const char *const *ns, struct ep_error *err);
void ep_xml_release(struct ep_xml *x);
/* The nodes expr selects from `at` (NULL: the document); free with xmlXPathFreeObject. */
xmlXPathObjectPtr ep_xml_all(struct ep_xml *x, xmlNodePtr at, const char *expr);
/* The text of the first node expr selects (element or attribute), heap, or NULL. */
char *ep_xml_get(struct ep_xml *x, xmlNodePtr at, const char *expr);
/* The first selected node's text as a whole decimal number. */
bool ep_xml_num(struct ep_xml *x, xmlNodePtr at, const char *expr, uint64_t *out);

/* Building: a child element (with text, or NULL), an attribute, a decimal number element. */
xmlNodePtr ep_xml_child(xmlNodePtr parent, xmlNsPtr ns, const char *name, const char *text);
void ep_xml_attr(xmlNodePtr n, xmlNsPtr ns, const char *name, const char *value);
xmlNodePtr ep_xml_number(xmlNodePtr parent, xmlNsPtr ns, const char *name, uint64_t v);
/* Serialises doc (and frees it) into a heap string. */
int ep_xml_dump(xmlDocPtr doc, char **out, size_t *len, struct ep_error *err);

#endif
