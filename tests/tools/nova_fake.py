#!/usr/bin/env python3
"""A stand-in for the little of Nova (OpenStack Compute v2.1) that vm:openstack: asks,
for t125: Nova itself needs nova-compute, placement, a message queue and a hypervisor,
too much to run here. Its snapshots land in the REAL glance-api of the test.

    nova_fake.py --keystone URL --glance URL --servers FILE [--port-file F] [--log F] [--lifetime S]

FILE is a JSON list of servers: {"id", "name", "flavor": {"original_name", "vcpus", "ram",
"disk"}, "disk": PATH, "disk_format", "image_properties": {...}, "snapshot": MODE}, MODE one of
  ok         createImage makes a queued Glance image at once and uploads PATH into it a
             second later, slowly (the image is "saving" for a second or so), then active
  stuck      the image stays queued: never active
  forbidden  createImage answers 403, as a policy that forbids it does
  vanish     the image is deleted a second later, as Nova deletes a failed snapshot's
Calls, as Nova answers them (the microversion from OpenStack-API-Version: compute X.Y,
2.1 when absent; at most 2.47 here):
  GET  /v2.1/servers?name=REGEX   {"servers": [{"id", "name", "links"}]}, REGEX searched
                                  in each name as Nova's filter does
  GET  /v2.1/servers/ID           {"server": ...}; from 2.47 its flavor embedded (vcpus,
                                  ram, ...), before it a link; 404 itemNotFound
  POST /v2.1/servers/ID/action    {"createImage": {"name", "metadata"}}: 202, from 2.45 with
                                  {"image_id"}, before it a Location header
Every request's X-Auth-Token is checked against the real Keystone (GET /v3/auth/tokens):
401 unless it is a valid project-scoped token. Every request is one JSON line in the
--log file: {"method", "path", "status", "version"}.
"""
import argparse, http.client, json, os, re, sys, threading, time, urllib.parse, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve import serve  # noqa: E402
from keystone_token import token_project  # noqa: E402

MAX_VERSION = (2, 47)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keystone", required=True)
    ap.add_argument("--glance", required=True)
    ap.add_argument("--servers", required=True)
    ap.add_argument("--port-file")
    ap.add_argument("--log")
    ap.add_argument("--lifetime", type=float, default=600)
    a = ap.parse_args()
    servers = {s["id"]: s for s in json.load(open(a.servers))}
    glance = a.glance.rstrip("/")
    lock = threading.Lock()


    def glance_call(method, path, doc=None):
        req = urllib.request.Request(glance + path, method=method, data=json.dumps(doc).encode() if doc else None,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            body = r.read()
            return json.loads(body) if body else None

    def upload(image_id, path):
        """PUT the disk into Glance in pieces, slowly, so that the image is seen saving."""
        time.sleep(1)
        data = open(path, "rb").read()
        u = urllib.parse.urlsplit(glance)
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
        c.putrequest("PUT", "/v2/images/%s/file" % image_id)
        c.putheader("Content-Type", "application/octet-stream")
        c.putheader("Content-Length", str(len(data)))
        c.endheaders()
        step = max(1, len(data) // 8)
        for i in range(0, len(data), step):
            c.send(data[i:i + step])
            time.sleep(0.15)
        r = c.getresponse()
        r.read()
        if r.status != 204:
            print("nova_fake: upload of %s: %d" % (image_id, r.status), file=sys.stderr)

    def vanish(image_id):
        time.sleep(1)
        glance_call("DELETE", "/v2/images/%s" % image_id)

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def version(self):
            m = re.fullmatch(r"\s*compute\s+(\d+)\.(\d+)\s*", self.headers.get("OpenStack-API-Version", ""))
            v = (int(m.group(1)), int(m.group(2))) if m else (2, 1)
            return v if v <= MAX_VERSION else None

        def answer(self, status, doc, headers=()):
            body = json.dumps(doc).encode() if doc is not None else b""
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            if body:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            if a.log:
                v = self.version()
                with lock, open(a.log, "a") as f:
                    f.write(json.dumps({"method": self.command, "path": self.path, "status": status,
                                        "version": "%d.%d" % v if v else None}) + "\n")

        def fault(self, status, kind, msg):
            self.answer(status, {kind: {"code": status, "message": msg}})

        def checked(self):
            """The request's microversion, or None once it has been answered with an error."""
            if not token_project(a.keystone, self.headers.get("X-Auth-Token", "")):
                self.answer(401, {"error": {"code": 401, "title": "Unauthorized",
                                            "message": "The request you have made requires authentication."}})
                return None
            v = self.version()
            if v is None:
                self.fault(406, "computeFault", "Version %s is not supported by the API. Minimum is 2.1 and "
                           "maximum is 2.47." % self.headers.get("OpenStack-API-Version"))
            return v

        def server_doc(self, s, v):
            f = s["flavor"]
            flavor = dict(f, ephemeral=0, swap=0, extra_specs={}) if v >= (2, 47) else \
                {"id": f["original_name"], "links": [{"rel": "bookmark", "href": "/flavors/" + f["original_name"]}]}
            return {"id": s["id"], "name": s["name"], "status": "ACTIVE", "flavor": flavor,
                    "metadata": s.get("metadata", {}), "image": {"id": s.get("image_id", "")}}

        def do_GET(self):
            u = urllib.parse.urlsplit(self.path)
            v = self.checked()
            if v is None:
                return
            if u.path == "/v2.1/servers":
                pattern = urllib.parse.parse_qs(u.query).get("name", [""])[0]
                found = [s for s in servers.values() if re.search(pattern, s["name"])]
                return self.answer(200, {"servers": [{"id": s["id"], "name": s["name"], "links": []} for s in found]})
            m = re.fullmatch(r"/v2.1/servers/([^/]+)", u.path)
            if m and m.group(1) in servers:
                return self.answer(200, {"server": self.server_doc(servers[m.group(1)], v)})
            if m:
                return self.fault(404, "itemNotFound", "Instance %s could not be found." % m.group(1))
            self.fault(404, "itemNotFound", "The resource could not be found.")

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            v = self.checked()
            if v is None:
                return
            m = re.fullmatch(r"/v2.1/servers/([^/]+)/action", self.path)
            s = servers.get(m.group(1)) if m else None
            if not s:
                return self.fault(404, "itemNotFound", "Instance %s could not be found." % (m.group(1) if m else "?"))
            try:
                doc = json.loads(raw)["createImage"]
                name = doc["name"]
                assert isinstance(name, str) and name and isinstance(doc.get("metadata", {}), dict)
            except (ValueError, KeyError, TypeError, AssertionError):
                return self.fault(400, "badRequest", "Invalid input for field/attribute createImage.")
            if s.get("snapshot") == "forbidden":
                return self.fault(403, "forbidden", "Policy doesn't allow os_compute_api:servers:create_image to be "
                                  "performed.")
            # Glance's own attributes keep their types (min_ram: an integer), extra properties are strings
            props = {k: x if k in ("min_ram", "min_disk") else str(x) for k, x in s.get("image_properties", {}).items()}
            props.update({k: str(x) for k, x in doc.get("metadata", {}).items()})
            props.update({"image_type": "snapshot", "instance_uuid": s["id"]})
            image = glance_call("POST", "/v2/images", dict(props, name=name, disk_format=s.get("disk_format", "qcow2"),
                                                             container_format="bare"))
            mode = s.get("snapshot", "ok")
            if mode == "ok":
                threading.Thread(target=upload, args=(image["id"], s["disk"]), daemon=True).start()
            elif mode == "vanish":
                threading.Thread(target=vanish, args=(image["id"],), daemon=True).start()
            if v >= (2, 45):
                return self.answer(202, {"image_id": image["id"]})
            self.answer(202, None, [("Location", "%s/v2/images/%s" % (glance, image["id"]))])

    serve(ThreadingHTTPServer(("127.0.0.1", 0), H), a.port_file, a.lifetime)


if __name__ == "__main__":
    main()
