#!/usr/bin/env python3
"""An independent Azure Blob client for tests: the REST API over http.client,
signed with its own Shared Key code (hmac and hashlib only), written from
Microsoft's "Authorize with Shared Key" page, not from envpack's C.

    azblob.py [--endpoint URL] [--account NAME] [--key BASE64] COMMAND ARGS...

The endpoint, account and key default to AZURE_STORAGE_CONNECTION_STRING's
BlobEndpoint, AccountName and AccountKey. Commands:
  mkcontainer C          creates container C
  get C BLOB FILE        downloads the blob to FILE
  head C BLOB            prints the blob's properties and metadata as JSON; exit 1 if absent
  ranges C BLOB          prints the page blob's valid ranges, "START END" (inclusive), one a line
  list C                 prints the names of the blobs in C, one a line
  put C BLOB FILE        uploads FILE as a block blob (to have a blob in the way)
  pageblob C BLOB FILE [NAME=VALUE...]  uploads FILE (a multiple of 512 bytes) as a page
                         blob with that metadata: only its allocated ranges (SEEK_DATA) are
                         written, so the rest stays holes
  putpage C BLOB OFF FILE  writes FILE (512-byte multiple, at most 4 MiB) at OFF of the page blob
  blobsas C BLOB         prints a service SAS reading that one blob (sr=b, sp=r, an hour
                         long), as a managed disk's grant access gives one
  sas                    prints an account SAS (blob service, all permissions, a day long)
  sign STRING            prints the Shared Key signature of STRING (escapes: \\n)
"""
import base64, datetime, hashlib, hmac, http.client, json, os, sys, urllib.parse
import xml.etree.ElementTree as ET

VERSION = "2021-08-06"


def conn_string():
    out = {}
    for part in os.environ.get("AZURE_STORAGE_CONNECTION_STRING", "").split(";"):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k] = v
    return out


def signature(key, string):
    return base64.b64encode(hmac.new(base64.b64decode(key), string.encode("utf-8"), hashlib.sha256).digest()).decode()


def string_to_sign(method, account, path, query, headers, length):
    h = {k.lower(): v for k, v in headers.items()}
    std = ["content-encoding", "content-language", None, "content-md5", "content-type", "date",
           "if-modified-since", "if-match", "if-none-match", "if-unmodified-since", "range"]
    lines = [method]
    for name in std:
        lines.append((str(length) if length else "") if name is None else h.get(name, ""))
    ms = sorted((k, v.strip()) for k, v in h.items() if k.startswith("x-ms-"))
    canon = "".join("%s:%s\n" % kv for kv in ms)
    res = "/" + account + path
    params = urllib.parse.parse_qs(query, keep_blank_values=True)
    for k in sorted(params, key=str.lower):
        res += "\n%s:%s" % (k.lower(), ",".join(sorted(params[k])))
    return "\n".join(lines) + "\n" + canon + res


class Client:
    def __init__(self, endpoint, account, key):
        self.endpoint = urllib.parse.urlsplit(endpoint)
        self.account, self.key = account, key

    def request(self, method, path, query="", body=b"", headers=None):
        headers = dict(headers or {})
        full = self.endpoint.path.rstrip("/") + path
        headers["x-ms-date"] = datetime.datetime.utcnow().strftime("%a, %d %b %Y %H:%M:%S GMT")
        headers["x-ms-version"] = VERSION
        sts = string_to_sign(method, self.account, full, query, headers, len(body))
        headers["Authorization"] = "SharedKey %s:%s" % (self.account, signature(self.key, sts))
        headers["Content-Length"] = str(len(body))
        c = http.client.HTTPConnection(self.endpoint.hostname, self.endpoint.port or 80, timeout=120)
        c.request(method, full + ("?" + query if query else ""), body=body, headers=headers)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data


def main():
    args = sys.argv[1:]
    cs = conn_string()
    opts = {"--endpoint": cs.get("BlobEndpoint"), "--account": cs.get("AccountName"), "--key": cs.get("AccountKey")}
    while args and args[0] in opts:
        opts[args[0]] = args[1]
        args = args[2:]
    if not args:
        sys.exit(__doc__)
    cmd, rest = args[0], args[1:]
    if cmd == "sign":
        print(signature(opts["--key"], rest[0].replace("\\n", "\n")))
        return
    cl = Client(opts["--endpoint"], opts["--account"], opts["--key"])
    if cmd == "sas":
        se = (datetime.datetime.utcnow() + datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        sv, sp, ss, srt, spr = "2019-02-02", "rwdlacup", "b", "sco", "https,http"
        sts = "\n".join([cl.account, sp, ss, srt, "", se, "", spr, sv, ""])
        sig = signature(cl.key, sts)
        print(urllib.parse.urlencode({"sv": sv, "ss": ss, "srt": srt, "sp": sp, "se": se, "spr": spr, "sig": sig}))
        return
    if cmd == "blobsas":
        se = (datetime.datetime.utcnow() + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        sv, sp, sr = "2019-02-02", "r", "b"
        res = "/blob/%s/%s/%s" % (cl.account, rest[0], rest[1])
        # signedPermissions, Start, Expiry, canonicalizedResource, Identifier, IP, Protocol, Version,
        # Resource, SnapshotTime, rscc, rscd, rsce, rscl, rsct
        sts = "\n".join([sp, "", se, res, "", "", "", sv, sr, "", "", "", "", "", ""])
        print(urllib.parse.urlencode({"sv": sv, "sr": sr, "sp": sp, "se": se, "sig": signature(cl.key, sts)}))
        return
    if cmd in ("pageblob", "putpage"):
        data = open(rest[2] if cmd == "pageblob" else rest[3], "rb").read()
        if cmd == "pageblob":
            meta = {"x-ms-meta-" + m.split("=", 1)[0]: m.split("=", 1)[1] for m in rest[3:]}
            s, _, d = cl.request("PUT", "/%s/%s" % (rest[0], rest[1]), headers=dict(meta, **{
                "x-ms-blob-type": "PageBlob", "x-ms-blob-content-length": str(len(data))}))
            if s != 201:
                sys.exit("pageblob: %d %s" % (s, d[:300]))
            runs, fd, off = [], os.open(rest[2], os.O_RDONLY), 0
            while off < len(data):
                try:
                    a = os.lseek(fd, off, os.SEEK_DATA)
                except OSError:
                    break
                off = os.lseek(fd, a, os.SEEK_HOLE)
                runs.append((a // 512 * 512, min(len(data), (off + 511) // 512 * 512)))
        else:
            runs = [(int(rest[2]), int(rest[2]) + len(data))]
        base = runs[0][0] if cmd == "putpage" else 0  # where data[0] goes
        for a, b in runs:
            for p in range(a, b, 4 << 20):
                e = min(b, p + (4 << 20))
                s, _, d = cl.request("PUT", "/%s/%s" % (rest[0], rest[1]), "comp=page", body=data[p - base:e - base], headers={
                    "x-ms-page-write": "update", "x-ms-range": "bytes=%d-%d" % (p, e - 1)})
                if s != 201:
                    sys.exit("%s: %d %s" % (cmd, s, d[:300]))
        return
    if cmd == "mkcontainer":
        s, _, d = cl.request("PUT", "/" + rest[0], "restype=container")
        sys.exit(0 if s in (201, 409) else "mkcontainer: %d %s" % (s, d[:300]))
    if cmd == "get":
        s, _, d = cl.request("GET", "/%s/%s" % (rest[0], rest[1]))
        if s != 200:
            sys.exit("get: %d %s" % (s, d[:300]))
        open(rest[2], "wb").write(d)
        return
    if cmd == "head":
        s, h, _ = cl.request("HEAD", "/%s/%s" % (rest[0], rest[1]))
        if s == 404:
            sys.exit(1)
        if s != 200:
            sys.exit("head: %d" % s)
        print(json.dumps({"length": int(h.get("content-length", -1)), "type": h.get("x-ms-blob-type"),
                          "metadata": {k[10:]: v for k, v in h.items() if k.startswith("x-ms-meta-")}}))
        return
    if cmd == "ranges":
        s, _, d = cl.request("GET", "/%s/%s" % (rest[0], rest[1]), "comp=pagelist")
        if s != 200:
            sys.exit("ranges: %d %s" % (s, d[:300]))
        for r in ET.fromstring(d).iter("PageRange"):
            print(r.find("Start").text, r.find("End").text)
        return
    if cmd == "list":
        s, _, d = cl.request("GET", "/" + rest[0], "restype=container&comp=list")
        if s != 200:
            sys.exit("list: %d %s" % (s, d[:300]))
        for b in ET.fromstring(d).iter("Blob"):
            print(b.find("Name").text)
        return
    if cmd == "put":
        s, _, d = cl.request("PUT", "/%s/%s" % (rest[0], rest[1]), body=open(rest[2], "rb").read(),
                             headers={"x-ms-blob-type": "BlockBlob"})
        sys.exit(0 if s == 201 else "put: %d %s" % (s, d[:300]))
    sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
