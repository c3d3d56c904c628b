/*
 * HTTP over libcurl, the one place every remote reader and writer goes
 * through: TLS always verified (system CAs, plus --cacert), proxies from the
 * environment, connect and idle timeouts, and retries with exponential
 * backoff and jitter on dropped connections, 429 and 5xx, honouring
 * Retry-After. Request bodies are streamed; a request is retried only when
 * its body can be replayed and none of the response has been handed on.
 */
#ifndef EP_HTTP_H
#define EP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

struct ep_http_options {
	const char *cacert;      /* an extra CA bundle, or NULL */
	unsigned timeout;        /* seconds without a byte moving before giving up; 0: 60 */
	unsigned attempts;       /* tries per request; 0: 5 */
};

/* A streamed request body of len bytes. */
struct ep_http_body {
	uint64_t len;
	int (*read)(void *ctx, void *buf, size_t cap, size_t *got, struct ep_error *err);
	int (*rewind)(void *ctx, struct ep_error *err); /* NULL: cannot be sent twice */
	void *ctx;
};

struct ep_http_response;

struct ep_http_request {
	const char *method; /* GET, HEAD, PUT, POST, PATCH, DELETE */
	const char *url;
	const char *const *headers; /* "Name: value", NULL-terminated; may be NULL */
	const void *data;           /* a body in memory ... */
	size_t data_len;
	const struct ep_http_body *body; /* ... or streamed */
	/* A 2xx answer's body goes to sink when set, else into the response (at most max_body bytes). */
	int (*sink)(void *ctx, const void *data, size_t len, struct ep_error *err);
	/* When set, sees a 2xx answer's status and headers before its body reaches the sink. */
	int (*check_answer)(void *ctx, const struct ep_http_response *resp, struct ep_error *err);
	void *sink_ctx;
	size_t max_body;
	bool follow; /* follow redirects (GET, HEAD) */
	bool once;   /* never sent again (a request that makes something each time: Nova's createImage) */
};

struct ep_http_response {
	long status;
	char *body;       /* NUL-terminated; error answers are kept too, for messages */
	size_t body_len;
	char *headers;    /* the final answer's header block */
	uint64_t sunk;    /* bytes handed to the sink */
};

struct ep_http;

int ep_http_new(struct ep_http **out, const struct ep_http_options *opt, struct ep_error *err);
void ep_http_free(struct ep_http *h);
/* A connection of its own with h's options, for another thread: one handle serves one thread at a time. */
int ep_http_clone(const struct ep_http *h, struct ep_http **out, struct ep_error *err);

/* Sends req, retrying what is safe to retry, and fills resp (free it with
 * ep_http_response_release) whatever the status: the caller judges it. Fails
 * only when no answer came (or the sink failed); `what` names the request in
 * messages and must not hold secrets. */
int ep_http_send(struct ep_http *h, const struct ep_http_request *req, const char *what,
		 struct ep_http_response *resp, struct ep_error *err);
void ep_http_response_release(struct ep_http_response *resp);

/* The value of header `name` (case-insensitive) of the final answer, trimmed,
 * copied into buf; NULL when absent or longer than cap. */
const char *ep_http_header(const struct ep_http_response *resp, const char *name, char *buf, size_t cap);

/* Whether an answer is a 206 whose Content-Range starts at off: a range request
 * (or a resumed download) carries on where it was asked to. */
bool ep_http_starts_at(const struct ep_http_response *resp, uint64_t off);

/* Reading len bytes at off into buf with a Range request: the sink and
 * answer check for ep_http_request (sink_ctx: the ep_http_range), and
 * ep_http_range_done to call when the answer is in. */
struct ep_http_range {
	uint8_t *buf;
	size_t len, got;
	uint64_t off;
	const char *what; /* for messages */
};
int ep_http_range_sink(void *ctx, const void *data, size_t len, struct ep_error *err);
int ep_http_range_answer(void *ctx, const struct ep_http_response *resp, struct ep_error *err);
int ep_http_range_done(const struct ep_http_range *r, struct ep_error *err);
/* A plain GET of that range of url. */
int ep_http_get_range(struct ep_http *h, const char *url, void *buf, size_t len, uint64_t off, const char *what,
		      struct ep_error *err);

/* An endpoint given by a user, "http(s)://HOST[:PORT]" with any trailing '/', into
 * base (without it); `who` starts the message ("s3: --endpoint"). */
int ep_http_endpoint(const char *endpoint, char *base, size_t cap, const char *who, struct ep_error *err);

/* The request as text for --dry-run: the method and URL, the headers, then the
 * body (JSON pretty-printed, other text as it is, binary or streamed bodies by
 * their size), every credential masked ("****"): Authorization and token
 * headers, signing and SAS query parameters, and secret-holding JSON keys
 * ("password", "secret", ...). NULL when out of memory; free() it. */
char *ep_http_request_text(const struct ep_http_request *req);

/* Hands emit the request as ep_http_request_text renders it (a dry run's). */
int ep_http_show(const struct ep_http_request *req, void (*emit)(void *ctx, const char *text), void *ctx,
		 struct ep_error *err);

/* A short account of a failed answer for messages: "404 Not Found: <first line of the body>". */
void ep_http_describe(const struct ep_http_response *resp, char *buf, size_t cap);

#endif
