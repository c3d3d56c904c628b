#!/usr/bin/env python3
"""A proxy in front of a real S3 server (or any HTTP store: Azurite too) that
injects faults, for retry and resume tests.

    s3_fault.py --upstream http://127.0.0.1:PORT MODE [N] [--port N] [--port-file F]
                [--log F] [--lifetime S] [--match REGEX] [--tls-cert PEM --tls-key PEM]

Listens on 127.0.0.1 (--port 0, the default: a free port), prints the port on
stdout and writes it to F (atomically, so a test can wait for the file).
Every request it does not fault is sent on unchanged: the same method, path
and query, every header in its order (Host included, so SigV4 signatures made
for the proxy's address still verify upstream) and the body byte for byte;
the answer comes back with its status, headers and body. Asked as a forward
proxy (an absolute URL in the request line, as a client sends it through
http_proxy), it forwards to the upstream in the same way. With --log, each
request is one line "START END METHOD PATH STATUS" (times in seconds since the
epoch; STATUS "-" when the proxy dropped the connection, "slow" lines are the
stalled ones). Stops by itself after --lifetime seconds (default 300). With
--tls-cert and --tls-key it speaks HTTPS (to the client; plain HTTP upstream),
so a test can put a certificate of its own in front of the store.

MODE
  pass         forwards everything (a baseline)
  drop-part N  the N-th UploadPart (PUT ...?partNumber=&uploadId=) is read halfway
               and the connection closed, nothing answered nor forwarded; then pass
  503 N        the first N requests: 503 SlowDown with Retry-After: 1 (the body read
               and dropped, nothing forwarded); then pass
  429 N        the same with 429 Too Many Requests
  500 N        the first N requests: 500 InternalError (no Retry-After), likewise
  lose N       the first N requests are forwarded, but their answers replaced by a 500
               (the server acted, the client never heard): for idempotency tests
  slow [S]     every request is held S seconds (default: the lifetime) before it is
               forwarded: a client's idle timeout fires first
  deny         every request is answered 403 AccessDenied, nothing forwarded, as a
               bucket policy denies it (with --match '^DELETE ': an append-only credential)
  cut N        the first answer (2xx) longer than N bytes is sent with its headers
               (its whole Content-Length) but only N bytes of its body, then the
               connection is closed: a download cut mid-way; then pass
  gate N       requests are held until N have come (or --lifetime passes), then
               forwarded one at a time in the order they came, each once the one before
               was answered: with --match on one key's PUT, N writers that each looked and
               found the key free all write it, in a known order (a race made certain)

--match REGEX: only requests whose "METHOD PATH?QUERY" matches (re.search) are
faulted or counted; the others are forwarded unchanged.
"""
import argparse, http.client, os, re, threading, time
from serve import serve
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, parse_qs

HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}


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
                self.server.log_line(self.started, self.command, self.path, self.status)

    def read_body(self, limit=None):
        """The request body as sent (Content-Length or chunked, re-joined); limit: stop after that many bytes."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                n = int(self.rfile.readline().split(b";")[0], 16)
                out += self.rfile.read(n)
                self.rfile.readline()
                if n == 0 or (limit is not None and len(out) >= limit):
                    return out
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n if limit is None else min(n, limit))

    def send_plain(self, code, body, headers=()):
        self.status = code
        self.send_response(code)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def dispatch(self):
        srv = self.server
        if self.path.startswith("http://"):  # asked as a forward proxy (http_proxy): on to the upstream all the same
            self.path = urlsplit(self.path)._replace(scheme="", netloc="").geturl()
        u = urlsplit(self.path)
        q = parse_qs(u.query, keep_blank_values=True)
        if srv.match and not srv.match.search("%s %s" % (self.command, self.path)):
            return self.forward(self.read_body())
        n = srv.count("all")
        if srv.mode == "503" and n <= srv.n:
            self.read_body()
            return self.send_plain(503, b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
                                   b"<Message>Please reduce your request rate.</Message></Error>",
                                   [("Retry-After", "1")])
        if srv.mode == "429" and n <= srv.n:
            self.read_body()
            return self.send_plain(429, b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>TooManyRequests</Code>'
                                   b"<Message>Too many requests.</Message></Error>", [("Retry-After", "1")])
        if srv.mode == "500" and n <= srv.n:
            self.read_body()
            return self.send_plain(500, b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code>'
                                   b"<Message>We encountered an internal error. Please try again.</Message></Error>")
        if srv.mode == "deny" or (srv.mode == "deny-delete" and self.command == "DELETE"):
            self.read_body()
            return self.send_plain(403, b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
                                   b"<Message>Access Denied</Message></Error>")
        if srv.mode == "drop-part" and self.command == "PUT" and "partNumber" in q and "uploadId" in q:
            if srv.count("part") == srv.n:
                length = int(self.headers.get("Content-Length") or 0)
                self.read_body(limit=max(1, length // 2))
                self.close_connection = True
                self.status = "-"
                return
        if srv.mode == "gate":
            body = self.read_body()
            srv.gate_wait(n)
            try:
                return self.forward(body)
            finally:
                srv.gate_done()
        if srv.mode == "slow":
            srv.stop.wait(srv.n if srv.n else srv.lifetime)
            if srv.stop.is_set():
                self.close_connection = True
                return
        body = self.read_body()
        self.forward(body, lose=srv.mode == "lose" and n <= srv.n)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = dispatch

    def forward(self, body, lose=False):
        srv = self.server
        conn = http.client.HTTPConnection(srv.up_host, srv.up_port, timeout=300)
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            chunked = False
            for k, v in self.headers.items():
                if k.lower() == "transfer-encoding":
                    chunked = True  # re-sent with its length: the bytes are the same
                    continue
                if k.lower() in ("connection", "keep-alive", "proxy-connection"):
                    continue
                conn.putheader(k, v)
            if chunked:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders()
            if body:
                conn.send(body)
            r = conn.getresponse()
            data = r.read()
            if lose:
                return self.send_plain(500, b"<Error><Code>InternalError</Code><Message>lost</Message></Error>")
            self.status = r.status
            self.send_response(r.status, r.reason)
            for k, v in r.getheaders():
                if k.lower() in HOP or k.lower() in ("content-length", "date", "server"):
                    continue
                self.send_header(k, v)
            if self.command != "HEAD" or r.getheader("Content-Length") is None:
                self.send_header("Content-Length", str(len(data)))
            else:
                self.send_header("Content-Length", r.getheader("Content-Length"))
            self.end_headers()
            if self.command != "HEAD" and srv.mode == "cut" and 200 <= r.status < 300 and len(data) > srv.n \
                    and srv.count("cut") == 1:
                self.wfile.write(data[:srv.n])
                self.wfile.flush()
                self.close_connection = True
                self.status = "cut"
            elif self.command != "HEAD":
                self.wfile.write(data)
        except OSError as e:
            self.status = "-"
            self.server.note("upstream: %s %s: %s" % (self.command, self.path, e))
            self.close_connection = True
        finally:
            conn.close()


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, args):
        super().__init__(("127.0.0.1", args.port), Handler)
        up = urlsplit(args.upstream)
        self.up_host, self.up_port = up.hostname, up.port or 80
        self.mode, self.n, self.lifetime = args.mode, args.n, args.lifetime
        self.match = re.compile(args.match) if args.match else None
        self.stop = threading.Event()
        self.counts = {}
        self.lock = threading.Lock()
        self.gate, self.gate_next = threading.Condition(), 1  # gate: the next request to forward
        self.log = open(args.log, "a") if args.log else None

    def gate_wait(self, n):
        """Holds the n-th request until N came, then until the n-1 before it were answered."""
        with self.gate:
            self.gate.notify_all()
            deadline = time.time() + self.lifetime
            while (self.counts["all"] < self.n or self.gate_next < n) and time.time() < deadline:
                self.gate.wait(max(0.01, deadline - time.time()))

    def gate_done(self):
        with self.gate:
            self.gate_next += 1
            self.gate.notify_all()

    def count(self, key):
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + 1
            return self.counts[key]

    def log_line(self, start, method, path, status):
        if self.log:
            with self.lock:
                self.log.write("%.6f %.6f %s %s %s\n" % (start, time.time(), method, path, status))
                self.log.flush()

    def note(self, msg):
        print("s3_fault: " + msg, file=__import__("sys").stderr, flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("mode", choices=["pass", "drop-part", "503", "429", "500", "lose", "slow", "deny", "deny-delete", "gate", "cut"])
    p.add_argument("n", nargs="?", type=float, default=None)
    p.add_argument("--upstream", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--log")
    p.add_argument("--lifetime", type=float, default=300)
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--match")
    args = p.parse_args()
    if args.mode in ("drop-part", "503", "429", "500", "lose", "gate", "cut"):
        if args.n is None or args.n < 1 or args.n != int(args.n):
            p.error("%s needs a count N >= 1" % args.mode)
        args.n = int(args.n)
    elif args.n is None:
        args.n = 0
    srv = Server(args)
    if args.tls_cert:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    serve(srv, args.port_file, args.lifetime)


if __name__ == "__main__":
    main()
