#include "cloud/remote.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/http.h"
#include "cloud/s3.h"

/* Connections open at once at most: one per reader thread (restore and verify run one
 * per CPU); more readers take turns rather than open ever more sockets on the server. */
#define CONNECTIONS_MAX 16

struct ep_remote {
	struct ep_s3 *s3; /* s3:// */
	struct ep_s3_url u;
	struct ep_http *http; /* http(s)://: the connection the size was asked on, the model of the others */
	char *url;
	/* Idle connections, each used by one reader at a time (a curl handle is not
	 * thread-safe); made when every one is busy, up to CONNECTIONS_MAX. The lock is
	 * held only to take or give one back, never over a request. */
	pthread_mutex_t lock;
	pthread_cond_t returned;
	struct ep_http *idle[CONNECTIONS_MAX];
	unsigned nidle, nmade;
};

bool ep_remote_is_url(const char *path)
{
	return !strncmp(path, "s3://", 5) || !strncmp(path, "https://", 8) || !strncmp(path, "http://", 7);
}

static int http_size(struct ep_remote *r, uint64_t *size, struct ep_error *err)
{
	char what[300], cl[32];
	snprintf(what, sizeof what, "HEAD %.250s", r->url);
	struct ep_http_response resp;
	int rc = ep_http_send(r->http, &(struct ep_http_request){ .method = "HEAD", .url = r->url, .follow = true }, what,
			      &resp, err);
	if (!rc && resp.status != 200) {
		char d[300];
		ep_http_describe(&resp, d, sizeof d);
		rc = ep_fail(err, resp.status == 404 || resp.status == 403 ? EP_EINPUT : EP_ERUNTIME, "%s: %s", what, d);
	}
	if (!rc && !ep_http_header(&resp, "Content-Length", cl, sizeof cl))
		rc = ep_fail(err, EP_ERUNTIME, "%s: the server gives no size", what);
	if (!rc)
		*size = strtoull(cl, NULL, 10);
	ep_http_response_release(&resp);
	return rc;
}

int ep_remote_open(struct ep_remote **out, const char *url, const struct ep_s3_options *opt, uint64_t *size,
		   struct ep_error *err)
{
	struct ep_remote *r = calloc(1, sizeof *r);
	if (!r || !(r->url = strdup(url))) {
		free(r);
		return ep_oom(err);
	}
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->returned, NULL);
	int rc;
	if (!strncmp(url, "s3://", 5)) {
		static const struct ep_s3_options defaults;
		if (!(rc = ep_s3_url_parse(url, &r->u, err)) && !(rc = ep_s3_open(&r->s3, opt ? opt : &defaults, err)))
			rc = ep_s3_head(r->s3, &r->u, size, err) == 1 ? 0
			     : err->code				? err->code
									: ep_fail(err, EP_EINPUT, "'%s' does not exist", url);
	} else if (!(rc = ep_http_new(&r->http, opt ? &opt->http : NULL, err))) {
		r->idle[r->nidle++] = r->http, r->nmade = 1; /* the first reader's too */
		rc = http_size(r, size, err);
	}
	if (rc) {
		ep_remote_close(r);
		return rc;
	}
	*out = r;
	return 0;
}

/* An idle connection, a new one while under the bound, or else the next one given back. */
static int take(struct ep_remote *r, struct ep_http **out, struct ep_error *err)
{
	pthread_mutex_lock(&r->lock);
	while (!r->nidle && r->nmade == CONNECTIONS_MAX)
		pthread_cond_wait(&r->returned, &r->lock);
	if (r->nidle) {
		*out = r->idle[--r->nidle];
		pthread_mutex_unlock(&r->lock);
		return 0;
	}
	r->nmade++; /* counted before it exists, so that others wait rather than pass the bound */
	pthread_mutex_unlock(&r->lock);
	int rc = r->s3 ? ep_s3_connection(r->s3, out, err) : ep_http_clone(r->http, out, err);
	if (rc) {
		pthread_mutex_lock(&r->lock);
		r->nmade--;
		pthread_cond_signal(&r->returned);
		pthread_mutex_unlock(&r->lock);
	}
	return rc;
}

static void give_back(struct ep_remote *r, struct ep_http *c)
{
	pthread_mutex_lock(&r->lock);
	r->idle[r->nidle++] = c;
	pthread_cond_signal(&r->returned);
	pthread_mutex_unlock(&r->lock);
}

int ep_remote_pread(struct ep_remote *r, void *buf, size_t len, uint64_t off, struct ep_error *err)
{
	struct ep_http *c;
	int rc = take(r, &c, err);
	if (rc)
		return rc;
	rc = r->s3 ? ep_s3_read_range(r->s3, c, &r->u, buf, len, off, err)
		   : ep_http_get_range(c, r->url, buf, len, off, r->url, err);
	give_back(r, c);
	return rc;
}

void ep_remote_close(struct ep_remote *r)
{
	if (!r)
		return;
	ep_s3_close(r->s3);
	for (unsigned i = 0; i < r->nidle; i++) /* every one is idle by now, r->http among them */
		ep_http_free(r->idle[i]);
	pthread_cond_destroy(&r->returned);
	pthread_mutex_destroy(&r->lock);
	free(r->url);
	free(r);
}
