#!/usr/bin/env python3
"""A stand-in for Heat's stack-create, for the openstack: tests (Heat itself needs
a message queue and an engine: too much to run here).

    heat_fake.py --keystone URL --stacks DIR [--port-file F] [--log F] [--lifetime S]

Serves on a free 127.0.0.1 port (printed, and written to F atomically).
POST /v1/PROJECT_ID/stacks: the X-Auth-Token is validated against the real
Keystone at URL (GET /v3/auth/tokens with the token as its own subject) and must
be scoped to PROJECT_ID; the body must be JSON with a stack_name and a template,
as Heat's API wants it. It is written to DIR/STACK_NAME.json and answered 201
with a stack id, as Heat does (409 when the name is taken, 401 for a bad token).
Every request is one line "METHOD PATH STATUS" in the --log file.
"""
import argparse, json, os, re, sys, threading, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve import serve  # noqa: E402
from keystone_token import token_project  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keystone", required=True)
    ap.add_argument("--stacks", required=True)
    ap.add_argument("--port-file")
    ap.add_argument("--log")
    ap.add_argument("--lifetime", type=float, default=600)
    a = ap.parse_args()
    lock = threading.Lock()


    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def answer(self, status, doc):
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            if a.log:
                with lock, open(a.log, "a") as f:
                    f.write("%s %s %d\n" % (self.command, self.path, status))

        def error(self, status, title, msg):
            self.answer(status, {"error": {"code": status, "title": title, "message": msg}})

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n)
            m = re.fullmatch(r"/v1/([0-9a-f]+)/stacks", self.path)
            if not m:
                return self.error(404, "Not Found", self.path)
            if token_project(a.keystone, self.headers.get("X-Auth-Token", "")) != m.group(1):
                return self.error(401, "Unauthorized", "The request you have made requires authentication.")
            try:
                doc = json.loads(raw)
            except ValueError:
                return self.error(400, "Bad Request", "the body is not JSON")
            name = doc.get("stack_name") if isinstance(doc, dict) else None
            if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_.-]*", name) \
                    or not isinstance(doc.get("template"), (str, dict)):
                return self.error(400, "Bad Request", "a stack needs a stack_name and a template")
            path = os.path.join(a.stacks, name + ".json")
            with lock:
                if os.path.exists(path):
                    return self.error(409, "Conflict", "The Stack (%s) already exists." % name)
                with open(path, "w") as f:
                    json.dump(doc, f)
            sid = str(uuid.uuid4())
            self.answer(201, {"stack": {"id": sid, "links": [{"rel": "self", "href": "%s/%s" % (name, sid)}]}})

    serve(ThreadingHTTPServer(("127.0.0.1", 0), H), a.port_file, a.lifetime)


if __name__ == "__main__":
    main()
