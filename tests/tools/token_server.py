#!/usr/bin/env python3
"""A registry token server for the tests (docker/distribution "token" auth).

    token_server.py --key KEY.pem --cert CERT.pem --user U --password P
                    [--port N] [--port-file F] [--issuer I] [--service S] [--lifetime SECONDS]
                    [--anonymous-pull]

GET /token?service=S&scope=repository:NAME:pull,push[&scope=...] (and the
OAuth2 form POST with grant_type=password) answers {"token": JWT, ...}. The JWT
is RS256-signed with KEY by the openssl CLI; its header carries CERT in x5c,
which the registry checks against its rootcertbundle (the same CERT). Right
credentials get every action asked for; no credentials get a token granting
nothing (pull only with --anonymous-pull), so the registry answers 401; wrong
ones get 401 from here. The port (N, or a free one for 0) is printed on stdout and
written to F; the server stops by itself after --lifetime seconds.
"""
import argparse, base64, json, os, secrets, subprocess, sys, threading, time
from serve import serve
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def cert_der(path):
    pem = open(path).read()
    body = pem.split("-----BEGIN CERTIFICATE-----")[1].split("-----END CERTIFICATE-----")[0]
    return "".join(body.split())  # x5c is standard base64 of the DER, which is the PEM body


def make_token(args, subject, access):
    now = int(time.time())
    header = {"typ": "JWT", "alg": "RS256", "x5c": [cert_der(args.cert)]}
    claims = {"iss": args.issuer, "sub": subject, "aud": args.service, "iat": now,
              "nbf": now - 10, "exp": now + 300, "jti": secrets.token_hex(8), "access": access}
    signing_input = (b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())).encode()
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", args.key], input=signing_input,
                         capture_output=True, check=True).stdout
    return signing_input.decode() + "." + b64url(sig)


def parse_scopes(scopes, allowed):
    """'repository:a/b:pull,push' -> [{"type", "name", "actions"}], actions cut to `allowed`."""
    out = []
    for s in scopes:
        for one in s.split(" "):
            parts = one.split(":")
            if len(parts) < 3:
                continue
            typ, name, actions = parts[0], ":".join(parts[1:-1]), parts[-1].split(",")
            if allowed is not None:
                actions = [a for a in actions if a in allowed]
            out.append({"type": typ, "name": name, "actions": actions})
    return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        sys.stderr.write("token_server: %s\n" % (fmt % a))

    def reply(self, code, obj, extra=()):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def grant(self, user, password, scopes):
        a = self.server.args
        if user is None:
            subject, allowed = "", {"pull"} if a.anonymous_pull else set()
        elif user == a.user and password == a.password:
            subject, allowed = user, None
        else:
            return self.reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]},
                              [("WWW-Authenticate", 'Basic realm="token"')])
        tok = make_token(a, subject, parse_scopes(scopes, allowed))
        self.reply(200, {"token": tok, "access_token": tok, "expires_in": 300,
                         "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})

    def do_GET(self):
        u = urlsplit(self.path)
        if u.path != "/token":
            return self.reply(404, {"error": "not found"})
        user = password = None
        h = self.headers.get("Authorization", "")
        if h.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(h[6:]).decode().partition(":")
            except ValueError:
                user, password = "", ""
        self.grant(user, password, parse_qs(u.query).get("scope", []))

    def do_POST(self):
        u = urlsplit(self.path)
        n = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(n).decode())
        if u.path != "/token" or form.get("grant_type", [""])[0] != "password":
            return self.reply(404, {"error": "unsupported"})
        self.grant(form.get("username", [""])[0], form.get("password", [""])[0], form.get("scope", []))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--key", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--issuer", default="envpack-test-issuer")
    p.add_argument("--service", default="envpack-test-registry")
    p.add_argument("--lifetime", type=float, default=1800)
    p.add_argument("--anonymous-pull", action="store_true")
    args = p.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    srv.args = args
    serve(srv, args.port_file, args.lifetime)


if __name__ == "__main__":
    main()
