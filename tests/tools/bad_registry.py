#!/usr/bin/env python3
"""A fake OCI distribution registry (/v2/...) that misbehaves on purpose.

    bad_registry.py MODE [--port N] [--port-file F] [--log F] [--lifetime S]

Listens on 127.0.0.1:N (0, the default: a free port), prints the port on
stdout and writes it to F (atomically, so a test can wait for the file). Any
repository name and any tag name the same tiny image: an OCI manifest, a
config and one ~256 KiB gzipped tar layer, every digest right. With --log,
each request is one line "START END METHOD PATH STATUS" (times in seconds
since the epoch, STATUS "-" when the connection was dropped or hung). Stops
by itself after --lifetime seconds (default 120).

MODE
  ok         serves the image and accepts pushes (a baseline)
  401        every request: 401 with WWW-Authenticate: Basic realm="x"
  500        every request: 500
  flaky      the first 2 requests of each path: 503 with Retry-After: 1; then ok
  drop       the first GET of the layer sends half its body and closes the
             connection; then ok (Range: bytes=N- answered with 206 throughout)
  garbage    manifests: 200, an OCI manifest content type, a body that is not JSON
  baddigest  the layer's bytes do not match its digest (same length, one byte off)
  hang       accepts every connection and never answers
  loop       the tag is an index whose one entry names the index itself: the
             entry's digest is the one the tag's Docker-Content-Digest claims,
             and fetching it gives the same index again (so the bytes cannot
             match that digest: a client sees a cycle or a digest mismatch)
  deep       an honest chain of --depth (default 64) indexes, each naming the
             next, the last naming the image
  pushfail   accepts blob uploads (checking their digests), answers the
             manifest PUT with 500
"""
import argparse, gzip, hashlib, io, json, os, random, re, tarfile, threading, time, uuid
from serve import serve
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MODES = "ok 401 500 flaky drop garbage baddigest hang loop deep pushfail".split()


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def desc(media_type, body, **extra):
    return dict({"mediaType": media_type, "digest": sha(body), "size": len(body)}, **extra)


def make_image(depth):
    """Blobs and manifests of the tiny image, all deterministic: (blobs, manifests, tag digest)."""
    data = random.Random(7).randbytes(256 * 1024)
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w", format=tarfile.PAX_FORMAT) as t:
        info = tarfile.TarInfo("data.bin")
        info.size, info.mtime, info.mode = len(data), 1700000000, 0o644
        t.addfile(info, io.BytesIO(data))
    layer = gzip.compress(tar.getvalue(), mtime=0)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [sha(tar.getvalue())]}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": desc("application/vnd.oci.image.config.v1+json", config),
                           "layers": [desc("application/vnd.oci.image.layer.v1.tar+gzip", layer)]}).encode()
    blobs = {sha(layer): layer, sha(config): config}
    manifests = {sha(manifest): (OCI_MANIFEST, manifest)}
    top = manifest
    for _ in range(depth):  # deep: index -> index -> ... -> manifest
        media = OCI_MANIFEST if top is manifest else OCI_INDEX
        top = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            desc(media, top, platform={"architecture": "amd64", "os": "linux"})]}).encode()
        manifests[sha(top)] = (OCI_INDEX, top)
    return blobs, manifests, sha(top), sha(layer)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        pass  # the request log is ours (--log)

    def handle_one_request(self):
        self.started, self.status, self.command = time.time(), "-", None
        try:
            super().handle_one_request()
        finally:
            if getattr(self, "command", None):
                self.server.log_request_line(self.started, self.command, self.path, self.status)

    def send_response(self, code, message=None):
        self.status = code
        super().send_response(code, message)

    def reply(self, code, body=b"", ctype="application/json", headers=()):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Docker-Distribution-Api-Version", "registry/2.0")
        if not self.body_read and (self.headers.get("Content-Length", "0") != "0"
                                   or "Transfer-Encoding" in self.headers):
            self.send_header("Connection", "close")  # the unread body would be taken for a request
            self.close_connection = True
        if body or code not in (201, 202, 204):
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def error(self, code, err, msg, headers=()):
        self.reply(code, {"errors": [{"code": err, "message": msg}]}, headers=headers)

    def body(self):
        self.body_read = True
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                n = int(self.rfile.readline().split(b";")[0], 16)
                out += self.rfile.read(n)
                self.rfile.readline()
                if n == 0:
                    return out
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def dispatch(self):
        srv, mode = self.server, self.server.mode
        self.body_read = False
        if mode == "hang":
            srv.stop.wait(srv.lifetime)
            self.close_connection = True
            return
        if mode == "401":
            return self.error(401, "UNAUTHORIZED", "authentication required",
                              [("WWW-Authenticate", 'Basic realm="x"')])
        if mode == "500":
            return self.error(500, "UNKNOWN", "this registry always fails")
        u = urlsplit(self.path)
        if mode == "flaky" and srv.count(u.path) <= 2:
            return self.error(503, "UNAVAILABLE", "try again", [("Retry-After", "1")])
        if u.path in ("/v2", "/v2/"):
            return self.reply(200, {})
        if u.path == "/v2/_catalog":
            return self.reply(200, {"repositories": ["test"]})
        m = re.fullmatch(r"/v2/(.+)/blobs/uploads/([^/]*)", u.path)
        if m:
            return self.upload(m.group(1), m.group(2), parse_qs(u.query))
        m = re.fullmatch(r"/v2/(.+)/(manifests|blobs|tags)/([^/]+)", u.path)
        if not m:
            return self.error(404, "NAME_UNKNOWN", "no such endpoint")
        name, kind, ref = m.groups()
        if kind == "tags":
            return self.reply(200, {"name": name, "tags": ["latest"]})
        if kind == "manifests":
            return self.manifest(name, ref)
        return self.blob(ref)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = dispatch

    def manifest(self, name, ref):
        srv, mode = self.server, self.server.mode
        if self.command == "PUT":
            body = self.body()
            if mode == "pushfail":
                return self.error(500, "UNKNOWN", "manifest PUT refused on purpose")
            ctype = self.headers.get("Content-Type", OCI_MANIFEST)
            srv.manifests[sha(body)] = (ctype, body)
            srv.tags[ref] = sha(body)
            return self.reply(201, headers=[("Location", "/v2/%s/manifests/%s" % (name, sha(body))),
                                            ("Docker-Content-Digest", sha(body))])
        if self.command not in ("GET", "HEAD"):
            return self.error(405, "UNSUPPORTED", "method not allowed")
        if mode == "pushfail":
            return self.error(404, "MANIFEST_UNKNOWN", "no manifests here")
        if mode == "garbage":
            body = b"<html><body>502 Bad Gateway</body></html>\n\x00\xff not json {"
            return self.reply(200, body, OCI_MANIFEST, [("Docker-Content-Digest", sha(body))])
        if mode == "loop":
            return self.reply(200, srv.loop_index, OCI_INDEX, [("Docker-Content-Digest", srv.loop_claim)])
        digest = ref if ref.startswith("sha256:") else srv.tags.get(ref, srv.top)
        if digest not in srv.manifests:
            return self.error(404, "MANIFEST_UNKNOWN", "unknown manifest " + ref)
        ctype, body = srv.manifests[digest]
        self.reply(200, body, ctype, [("Docker-Content-Digest", digest)])

    def blob(self, digest):
        srv = self.server
        if self.command not in ("GET", "HEAD") or digest not in srv.blobs:
            return self.error(404, "BLOB_UNKNOWN", "unknown blob " + digest)
        data = srv.blobs[digest]
        if srv.mode == "baddigest" and digest == srv.layer:
            data = data[:1000] + bytes([data[1000] ^ 1]) + data[1001:]
        hdrs = [("Docker-Content-Digest", digest), ("Accept-Ranges", "bytes")]
        rng = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if (srv.mode == "drop" and digest == srv.layer and self.command == "GET"
                and srv.count("drop") == 1):
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            for k, v in hdrs:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.status = "dropped"
            return
        if rng:
            start = int(rng.group(1))
            end = min(int(rng.group(2) or len(data) - 1), len(data) - 1)
            if start > end:
                return self.reply(416, b"", headers=[("Content-Range", "bytes */%d" % len(data))])
            hdrs.append(("Content-Range", "bytes %d-%d/%d" % (start, end, len(data))))
            return self.reply(206, data[start:end + 1], "application/octet-stream", hdrs)
        self.reply(200, data, "application/octet-stream", hdrs)

    def upload(self, name, uid, query):
        srv = self.server
        if self.command == "POST":  # start (a mount= is refused by starting an upload)
            uid = uuid.uuid4().hex
            srv.uploads[uid] = b""
            if "digest" in query:  # monolithic: POST with the whole blob
                return self.finish_upload(name, uid, self.body(), query["digest"][0])
            self.body()
            return self.reply(202, headers=[("Location", "/v2/%s/blobs/uploads/%s" % (name, uid)),
                                            ("Range", "0-0"), ("Docker-Upload-UUID", uid)])
        if uid not in srv.uploads:
            return self.error(404, "BLOB_UPLOAD_UNKNOWN", "unknown upload " + uid)
        if self.command == "PATCH":
            srv.uploads[uid] += self.body()
            return self.reply(202, headers=[("Location", "/v2/%s/blobs/uploads/%s" % (name, uid)),
                                            ("Range", "0-%d" % (len(srv.uploads[uid]) - 1)),
                                            ("Docker-Upload-UUID", uid)])
        if self.command == "PUT":
            return self.finish_upload(name, uid, self.body(), query.get("digest", [""])[0])
        return self.error(405, "UNSUPPORTED", "method not allowed")

    def finish_upload(self, name, uid, rest, digest):
        srv = self.server
        data = srv.uploads.pop(uid) + rest
        if sha(data) != digest:
            return self.error(400, "DIGEST_INVALID", "upload hashes to %s, not %s" % (sha(data), digest))
        srv.blobs[digest] = data
        self.reply(201, headers=[("Location", "/v2/%s/blobs/%s" % (name, digest)),
                                 ("Docker-Content-Digest", digest)])


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, args):
        super().__init__(("127.0.0.1", args.port), Handler)
        self.mode, self.lifetime, self.stop = args.mode, args.lifetime, threading.Event()
        self.blobs, self.manifests, self.top, self.layer = make_image(args.depth if args.mode == "deep" else 0)
        self.tags, self.uploads, self.counts = {}, {}, {}
        self.lock = threading.Lock()
        self.log = open(args.log, "a") if args.log else None
        # loop: the index names a digest the tag claims is its own; that digest serves it again
        self.loop_claim = sha(b"the index's own digest, as its tag claims")
        size = 0
        for _ in range(3):  # until the entry's size is the index's own length
            self.loop_index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
                {"mediaType": OCI_INDEX, "digest": self.loop_claim, "size": size,
                 "platform": {"architecture": "amd64", "os": "linux"}}]}).encode()
            size = len(self.loop_index)

    def count(self, key):
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + 1
            return self.counts[key]

    def log_request_line(self, start, method, path, status):
        if self.log:
            with self.lock:
                self.log.write("%.6f %.6f %s %s %s\n" % (start, time.time(), method, path, status))
                self.log.flush()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("mode", choices=MODES)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--log")
    p.add_argument("--lifetime", type=float, default=120)
    p.add_argument("--depth", type=int, default=64)
    args = p.parse_args()
    srv = Server(args)
    serve(srv, args.port_file, args.lifetime)


if __name__ == "__main__":
    main()
