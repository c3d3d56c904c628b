#!/usr/bin/env python3
"""Azure AD's token endpoint and the Azure Resource Manager calls vm:azure: makes, for
tests: no real ARM or Azure AD can run here (they are Microsoft's services alone), so
this fake stands in; the disks' SAS URLs it grants point at real page blobs in Azurite.

    arm_fake.py --tenant T --client-id C --client-secret S [--disk NAME=SAS_URL]...
                [--vm NAME=DISK:SIZE:LOCATION:OSTYPE:SECURITY[:DATA]] [--polls N] [--deny ACTION]...
                [--expire-after N] [--port-file F] [--log F] [--lifetime S]

Listens on 127.0.0.1 (a free port) for both: POST /T/oauth2/v2.0/token (client
credentials, form-encoded; the client id and secret must be those given, the scope
https://management.azure.com/.default, else 401 invalid_client / 400 invalid_scope), and,
with that token as bearer (else 401 InvalidAuthenticationToken), under
/subscriptions/SUB/resourceGroups/GROUP/providers/Microsoft.Compute/:
  - disks/NAME/beginGetAccess (body {"access":"Read","durationInSeconds":N}) -> 202 with
    Azure-AsyncOperation and Location; the operation answers InProgress --polls times,
    then Succeeded with properties.output.accessSAS (the disk's SAS_URL); its Location
    answers 202 until then, then 200 {"accessSAS": ...};
  - disks/NAME/endGetAccess -> 202, its operation Succeeded after --polls looks;
  - virtualMachines/NAME -> the VM (hardwareProfile.vmSize, storageProfile.osDisk with
    managedDisk.id of disk DISK, osType, securityProfile: SECURITY is "trusted" for
    TrustedLaunch with secure boot, "uefi" for uefiSettings without it, "none"; DATA, its
    storageProfile.dataDisks in the order given: LUN=DISK,... a managed disk each, or
    LUN=vhd:NAME an unmanaged one, vhd.uri and no managedDisk);
  - GET /subscriptions/SUB/providers/Microsoft.Compute/locations/L/vmSizes -> a few sizes.
--expire-after N: a token serves N ARM requests, then gets 401 ExpiredAuthenticationToken
(as one does after its hour), and the token endpoint hands out a new one.
--deny ACTION (beginGetAccess, endGetAccess, vm, vmSizes) answers 403 AuthorizationFailed,
as ARM does when the service principal lacks the role. Each disk's grant state is kept:
GET /_state answers {"NAME": "granted"|"revoked"|"none"}, GET /_grants every grant and
revocation taken, in order: [["beginGetAccess"|"endGetAccess", "NAME"], ...].
--log F: one JSON object a line per request: method, path, status, auth ("ok", "bad",
"none"), body.
"""
import argparse, json, re, secrets, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

SIZES = [
    {"name": "Standard_B1s", "numberOfCores": 1, "memoryInMB": 1024, "osDiskSizeInMB": 1047552,
     "resourceDiskSizeInMB": 4096, "maxDataDiskCount": 2},
    {"name": "Standard_D2s_v5", "numberOfCores": 2, "memoryInMB": 8192, "osDiskSizeInMB": 1047552,
     "resourceDiskSizeInMB": 0, "maxDataDiskCount": 4},
    {"name": "Standard_D4s_v5", "numberOfCores": 4, "memoryInMB": 16384, "osDiskSizeInMB": 1047552,
     "resourceDiskSizeInMB": 0, "maxDataDiskCount": 8},
]
PREFIX = r"^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.Compute/"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tenant", required=True)
    ap.add_argument("--client-id", required=True)
    ap.add_argument("--client-secret", required=True)
    ap.add_argument("--disk", action="append", default=[])
    ap.add_argument("--vm", action="append", default=[])
    ap.add_argument("--polls", type=int, default=2)
    ap.add_argument("--expire-after", type=int, default=0)
    ap.add_argument("--deny", action="append", default=[])
    ap.add_argument("--port-file")
    ap.add_argument("--log")
    ap.add_argument("--lifetime", type=float, default=600)
    a = ap.parse_args()
    disks = dict(d.split("=", 1) for d in a.disk)
    vms = {}
    for v in a.vm:
        name, rest = v.split("=", 1)
        disk, size, loc, ostype, sec, *data = rest.split(":", 5)
        vms[name] = dict(disk=disk, size=size, location=loc, os=ostype, security=sec,
                         data=[d.split("=", 1) for d in data[0].split(",")] if data else [])
    tok = {"value": "eyJ0eXAiOiJKV1QifQ." + secrets.token_urlsafe(32), "uses": 0}
    state = {name: "none" for name in disks}
    grants = []  # [action, disk] taken, in order
    ops = {}  # id -> [looks left, result, disk, action]
    lock = threading.RLock()
    logf = open(a.log, "a") if a.log else None

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def answer(self, status, doc=None, headers=(), auth="none", body=""):
            data = json.dumps(doc).encode() if doc is not None else b""
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            if logf and self.path not in ("/_state", "/_grants"):  # the test's own looks are no requests of envpack's
                with lock:
                    logf.write(json.dumps({"method": self.command, "path": self.path, "status": status,
                                           "auth": auth, "body": body}) + "\n")
                    logf.flush()

        def base(self):
            return "http://%s" % self.headers.get("Host")

        def arm_error(self, status, code, message, auth, body=""):
            self.answer(status, {"error": {"code": code, "message": message}}, auth=auth, body=body)

        def start_op(self, disk, result, action, auth, body):
            op = secrets.token_hex(8)
            with lock:
                ops[op] = [a.polls, result, disk, action]
            sub = re.match(PREFIX, urlsplit(self.path).path).group(1)
            url = "%s/subscriptions/%s/providers/Microsoft.Compute/locations/westeurope/DiskOperations/%s" \
                  "?api-version=2023-10-02" % (self.base(), sub, op)
            self.answer(202, None, [("Azure-AsyncOperation", url), ("Location", url + "&monitor=true"),
                                    ("Retry-After", "1")], auth=auth, body=body)

        def do_GET(self):
            self.handle_any()

        def do_POST(self):
            self.handle_any()

        def handle_any(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n).decode("utf-8", "replace") if n else ""
            u = urlsplit(self.path)
            if u.path == "/_state":
                with lock:
                    now = dict(state)
                return self.answer(200, now)
            if u.path == "/_grants":
                with lock:
                    now = list(grants)
                return self.answer(200, now)
            if u.path == "/%s/oauth2/v2.0/token" % a.tenant and self.command == "POST":
                f = {k: v[0] for k, v in parse_qs(body).items()}
                shown = dict(f, client_secret="****" if "client_secret" in f else None)
                if self.headers.get("Content-Type", "").split(";")[0] != "application/x-www-form-urlencoded" or \
                        f.get("grant_type") != "client_credentials":
                    return self.answer(400, {"error": "unsupported_grant_type", "error_description":
                                             "AADSTS70003: the grant type is not supported."}, body=json.dumps(shown))
                if f.get("client_id") != a.client_id or f.get("client_secret") != a.client_secret:
                    return self.answer(401, {"error": "invalid_client", "error_description":
                                             "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 0"},
                                       auth="bad", body=json.dumps(shown))
                if f.get("scope") != "https://management.azure.com/.default":
                    return self.answer(400, {"error": "invalid_scope", "error_description":
                                             "AADSTS70011: the scope is not valid."}, body=json.dumps(shown))
                with lock:
                    if a.expire_after and tok["uses"] >= a.expire_after:
                        tok.update(value="eyJ0eXAiOiJKV1QifQ." + secrets.token_urlsafe(32), uses=0)
                    value = tok["value"]
                return self.answer(200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                                         "access_token": value}, auth="ok", body=json.dumps(shown))
            got = self.headers.get("Authorization", "")
            with lock:
                good = got == "Bearer " + tok["value"]
                expired = good and a.expire_after and tok["uses"] >= a.expire_after
                tok["uses"] += 1 if good and not expired else 0
            if expired:
                return self.arm_error(401, "ExpiredAuthenticationToken", "The access token expiry UTC time is "
                                      "earlier than current UTC time.", "expired", body)
            if not good:
                return self.arm_error(401, "InvalidAuthenticationToken", "The access token is invalid.",
                                      "bad" if got else "none", body)
            q = parse_qs(u.query)
            if "api-version" not in q:
                return self.arm_error(400, "MissingApiVersionParameter",
                                      "The api-version query parameter (?api-version=) is required.", "ok", body)
            m = re.match(PREFIX + r"disks/([^/]+)/(beginGetAccess|endGetAccess)$", u.path)
            if m and self.command == "POST":
                disk, action = m.group(3), m.group(4)
                if action in a.deny:
                    return self.arm_error(403, "AuthorizationFailed",
                                          "The client '%s' with object id '%s' does not have authorization to "
                                          "perform action 'Microsoft.Compute/disks/%s/action' over scope '%s' or "
                                          "the scope is invalid." % (a.client_id, a.client_id, action,
                                                                     u.path.rsplit("/", 1)[0]), "ok", body)
                if disk not in disks:
                    return self.arm_error(404, "ResourceNotFound", "The Resource 'Microsoft.Compute/disks/%s' "
                                          "under resource group '%s' was not found." % (disk, m.group(2)), "ok", body)
                if action == "beginGetAccess":
                    try:
                        req = json.loads(body)
                        ok = req.get("access") == "Read" and isinstance(req.get("durationInSeconds"), int)
                    except ValueError:
                        ok = False
                    if not ok:
                        return self.arm_error(400, "InvalidParameter", "access and durationInSeconds are "
                                              "required.", "ok", body)
                    with lock:
                        state[disk] = "granted"
                        grants.append([action, disk])
                    return self.start_op(disk, {"accessSAS": disks[disk]}, action, "ok", body)
                with lock:
                    state[disk] = "revoked"
                    grants.append([action, disk])
                return self.start_op(disk, None, action, "ok", body)
            m = re.match(r"^/subscriptions/[^/]+/providers/Microsoft\.Compute/locations/[^/]+/DiskOperations/(\w+)$",
                         u.path)
            if m and self.command == "GET":
                with lock:
                    op = ops.get(m.group(1))
                    if op and op[0] > 0:
                        op[0] -= 1
                        running = True
                    else:
                        running = False
                if not op:
                    return self.arm_error(404, "NotFound", "no such operation", "ok")
                if "monitor" in q:  # the Location
                    if running:
                        return self.answer(202, None, [("Location", self.base() + self.path), ("Retry-After", "1")],
                                           auth="ok")
                    return self.answer(200 if op[1] else 204, op[1], auth="ok")
                if running:
                    return self.answer(200, {"name": m.group(1), "status": "InProgress",
                                             "startTime": "2026-12-07T20:00:00Z"}, [("Retry-After", "1")], auth="ok")
                doc = {"name": m.group(1), "status": "Succeeded", "startTime": "2026-12-07T20:00:00Z",
                       "endTime": "2026-12-07T20:00:02Z"}
                if op[1]:
                    doc["properties"] = {"output": op[1]}
                return self.answer(200, doc, auth="ok")
            m = re.match(PREFIX + r"virtualMachines/([^/]+)$", u.path)
            if m and self.command == "GET":
                if "vm" in a.deny:
                    return self.arm_error(403, "AuthorizationFailed", "The client '%s' does not have authorization "
                                          "to perform action 'Microsoft.Compute/virtualMachines/read'." % a.client_id,
                                          "ok")
                vm = vms.get(m.group(3))
                if not vm:
                    return self.arm_error(404, "ResourceNotFound", "The Resource 'Microsoft.Compute/virtualMachines/"
                                          "%s' was not found." % m.group(3), "ok")
                sub, group = m.group(1), m.group(2)
                disk_id = "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/disks/%s" % (
                    sub, group.upper(), vm["disk"])  # ARM hands back the group upper-cased, as it often does
                props = {"vmId": "0f0e0d0c-0000-4000-8000-000000000001",
                         "hardwareProfile": {"vmSize": vm["size"]},
                         "storageProfile": {"osDisk": {"osType": vm["os"], "name": vm["disk"], "createOption":
                                                       "FromImage", "caching": "ReadWrite", "managedDisk": {
                                                           "storageAccountType": "Premium_LRS", "id": disk_id},
                                                       "diskSizeGB": 1}, "dataDisks": []},
                         "provisioningState": "Succeeded"}
                for lun, d in vm["data"]:  # as ARM lists them: in the order they were attached
                    dd = {"lun": int(lun), "createOption": "Attach", "caching": "None", "diskSizeGB": 1,
                          "writeAcceleratorEnabled": False, "toBeDetached": False}
                    if d.startswith("vhd:"):
                        dd.update(name=d[4:], vhd={"uri": "https://legacy.blob.core.windows.net/vhds/%s.vhd" % d[4:]})
                    else:
                        dd.update(name=d, managedDisk={"storageAccountType": "Premium_LRS", "id":
                                                       disk_id.rsplit("/", 1)[0] + "/" + d})
                    props["storageProfile"]["dataDisks"].append(dd)
                if vm["security"] == "trusted":
                    props["securityProfile"] = {"securityType": "TrustedLaunch",
                                                "uefiSettings": {"secureBootEnabled": True, "vTpmEnabled": True}}
                elif vm["security"] == "uefi":
                    props["securityProfile"] = {"uefiSettings": {"secureBootEnabled": False, "vTpmEnabled": False}}
                return self.answer(200, {"name": m.group(3), "id": u.path, "type": "Microsoft.Compute/virtualMachines",
                                         "location": vm["location"], "properties": props}, auth="ok")
            m = re.match(r"^/subscriptions/[^/]+/providers/Microsoft\.Compute/locations/([^/]+)/vmSizes$", u.path)
            if m and self.command == "GET":
                if "vmSizes" in a.deny:
                    return self.arm_error(403, "AuthorizationFailed", "no authorization to list VM sizes", "ok")
                return self.answer(200, {"value": SIZES}, auth="ok")
            self.arm_error(404, "InvalidResourceType", "no such resource type or action here", "ok", body)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    port = srv.server_address[1]
    print(port, flush=True)
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write(str(port))
        import os
        os.rename(a.port_file + ".tmp", a.port_file)
    threading.Thread(target=lambda: (time.sleep(a.lifetime), srv.shutdown()), daemon=True).start()
    srv.serve_forever()


if __name__ == "__main__":
    main()
