#include "verify/chunk_stream.h"

#include <stdlib.h>
#include <string.h>

#include "base/pool.h"
#include "formats/bundle/codec.h"

struct ep_chunk_stream {
	const struct ep_bundle *bundle;
	struct ep_pool *pool;
	const struct ep_chunk_ref *refs;
	size_t count, submitted;
	bool holding; /* the caller holds the oldest job's data */
	const struct ep_progress *progress;
	uint64_t done, total;
};

static void *worker_new(void *shared)
{
	(void)shared;
	return ep_codec_decoder_new();
}

static void worker_free(void *state)
{
	ep_codec_decoder_free(state);
}

static int check_chunk(void *shared, void *state, struct ep_job *job, struct ep_error *err)
{
	int rc = ep_bundle_fetch_chunk(shared, state, job->digest, job->arg[0], job->in, job->out, NULL, err);
	job->out_len = rc ? 0 : (size_t)job->arg[0];
	return rc;
}

static const struct ep_pool_ops check_ops = { worker_new, worker_free, check_chunk };

int ep_chunk_stream_new(struct ep_chunk_stream **out, const struct ep_bundle *b, unsigned threads,
			struct ep_error *err)
{
	struct ep_chunk_stream *s = calloc(1, sizeof *s);
	if (!s)
		return ep_oom(err);
	s->bundle = b;
	int rc = ep_pool_new(&s->pool, &check_ops, (void *)b, threads, EP_BUNDLE_STORED_MAX(EP_BUNDLE_CHUNK_MAX),
			     EP_BUNDLE_CHUNK_MAX, err);
	if (rc) {
		free(s);
		return rc;
	}
	*out = s;
	return 0;
}

void ep_chunk_stream_free(struct ep_chunk_stream *s)
{
	if (!s)
		return;
	ep_pool_free(s->pool);
	free(s);
}

void ep_chunk_stream_progress(struct ep_chunk_stream *s, const struct ep_progress *progress, uint64_t total)
{
	s->progress = progress;
	s->total = total;
}

void ep_chunk_stream_start(struct ep_chunk_stream *s, const struct ep_chunk_ref *refs, size_t count)
{
	/* drop whatever an earlier, abandoned stream left behind */
	struct ep_job *job;
	if (s->holding)
		ep_pool_release(s->pool);
	while (ep_pool_pending(s->pool)) {
		ep_pool_wait(s->pool, &job, NULL);
		ep_pool_release(s->pool);
	}
	s->holding = false;
	s->refs = refs;
	s->count = count;
	s->submitted = 0;
}

int ep_chunk_stream_next(struct ep_chunk_stream *s, const uint8_t **data, size_t *len, struct ep_error *err)
{
	if (s->holding) {
		ep_pool_release(s->pool);
		s->holding = false;
	}
	struct ep_job *job;
	while (s->submitted < s->count && (job = ep_pool_slot(s->pool))) {
		memcpy(job->digest, s->refs[s->submitted].digest, EP_DIGEST_LEN);
		job->arg[0] = s->refs[s->submitted].size;
		ep_pool_submit(s->pool);
		s->submitted++;
	}
	if (!ep_pool_pending(s->pool))
		return 0;
	int rc = ep_pool_wait(s->pool, &job, err);
	s->holding = true;
	if (rc)
		return rc;
	*data = job->out;
	*len = job->out_len;
	s->done += job->out_len;
	ep_progress_report(s->progress, s->done, s->total);
	return 1;
}

int ep_chunk_stream_pull(struct ep_chunk_stream *s, const uint8_t **data, size_t *len, struct ep_error *err)
{
	int rc = ep_chunk_stream_next(s, data, len, err);
	if (rc == 0)
		return ep_fail(err, EP_EINTEGRITY, "chunk stream ended early");
	return rc < 0 ? rc : 0;
}

int ep_chunk_stream_read(struct ep_chunk_stream *s, const struct ep_chunk_ref *refs, size_t count, size_t max,
			 char **out, size_t *len, struct ep_error *err)
{
	size_t total = 0;
	for (size_t i = 0; i < count; i++)
		if ((total += refs[i].size) > max)
			return ep_fail(err, EP_EINPUT, "'%s': a file to read whole is larger than %zu bytes",
				       ep_bundle_path(s->bundle), max);
	char *buf = malloc(total + 1);
	if (!buf)
		return ep_oom(err);
	ep_chunk_stream_start(s, refs, count);
	size_t at = 0;
	const uint8_t *data;
	size_t n;
	int rc;
	while ((rc = ep_chunk_stream_next(s, &data, &n, err)) == 1 && n <= total - at) {
		memcpy(buf + at, data, n);
		at += n;
	}
	if (rc == 1 || (rc == 0 && at != total))
		rc = ep_fail(err, EP_EINTEGRITY, "'%s': chunks do not add up to their declared sizes", ep_bundle_path(s->bundle));
	if (rc) {
		free(buf);
		return rc;
	}
	buf[total] = '\0';
	*out = buf;
	*len = total;
	return 0;
}
