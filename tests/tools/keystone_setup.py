#!/usr/bin/env python3
"""Fills a freshly bootstrapped Keystone for the openstack: tests, through its
API as the bootstrap admin, and prints what the test needs as shell assignments.

    keystone_setup.py --keystone URL --admin-password P --user NAME --password P
                      --project NAME --glance URL --heat URL [--compute URL]

Makes the project and a user holding the member role in it, an application
credential of that user, the image service (public endpoint GLANCE in
RegionOne; a dead public one in RegionTwo and a dead internal one, so that the
client must choose by region and interface) and the orchestration service
(HEAT/v1/%(project_id)s), and with --compute the compute service (COMPUTE/v2.1, as
Nova's endpoint is registered today: no project in it). Prints OS_PROJECT_ID, APP_ID and APP_SECRET.
"""
import argparse, json, sys, urllib.error, urllib.request

ap = argparse.ArgumentParser()
for k in ("keystone", "admin-password", "user", "password", "project", "glance", "heat"):
    ap.add_argument("--" + k, required=True)
ap.add_argument("--compute")
a = ap.parse_args()
base = a.keystone.rstrip("/") + "/v3"


def call(method, path, doc=None, token=None):
    req = urllib.request.Request(base + path, method=method, data=json.dumps(doc).encode() if doc else None,
                                 headers={"Content-Type": "application/json", **({"X-Auth-Token": token} if token else {})})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            body = r.read()
            return r.headers, json.loads(body) if body else None
    except urllib.error.HTTPError as e:
        sys.exit("keystone_setup: %s %s: %s %s" % (method, path, e.code, e.read()[:300]))


def token(user, password, project):
    h, _ = call("POST", "/auth/tokens", {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {"name": user, "domain": {"id": "default"},
                                                                    "password": password}}},
        "scope": {"project": {"name": project, "domain": {"id": "default"}}}}})
    return h["X-Subject-Token"]


adm = token("admin", a.admin_password, "admin")
_, p = call("POST", "/projects", {"project": {"name": a.project, "domain_id": "default"}}, adm)
pid = p["project"]["id"]
_, u = call("POST", "/users", {"user": {"name": a.user, "domain_id": "default", "password": a.password}}, adm)
uid = u["user"]["id"]
_, roles = call("GET", "/roles?name=member", None, adm)
call("PUT", "/projects/%s/users/%s/roles/%s" % (pid, uid, roles["roles"][0]["id"]), None, adm)
call("POST", "/regions", {"region": {"id": "RegionTwo"}}, adm)
services = [("image", "glance", [("internal", "RegionOne", "http://127.0.0.1:9/internal-only"),
                                ("public", "RegionTwo", "http://127.0.0.1:9/region-two"),
                                ("public", "RegionOne", a.glance)]),
            ("orchestration", "heat", [("public", "RegionOne", a.heat.rstrip("/") + "/v1/%(project_id)s")])]
if a.compute:
    services.append(("compute", "nova", [("public", "RegionOne", a.compute.rstrip("/") + "/v2.1")]))
for typ, name, eps in services:
    _, s = call("POST", "/services", {"service": {"type": typ, "name": name}}, adm)
    for iface, region, url in eps:
        call("POST", "/endpoints", {"endpoint": {"service_id": s["service"]["id"], "interface": iface,
                                                 "region_id": region, "url": url}}, adm)
mine = token(a.user, a.password, a.project)
_, ac = call("POST", "/users/%s/application_credentials" % uid,
             {"application_credential": {"name": "envpack-test"}}, mine)
print("OS_PROJECT_ID=%s" % pid)
print("APP_ID=%s" % ac["application_credential"]["id"])
print("APP_SECRET=%s" % ac["application_credential"]["secret"])
