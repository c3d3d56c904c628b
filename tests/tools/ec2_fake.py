#!/usr/bin/env python3
"""An EC2 Query endpoint for the aws: target's tests: VM Import only, judged by botocore.

    ec2_fake.py --s3 http://127.0.0.1:PORT --access-key K --secret-key S
                [--region R] [--polls N] [--end completed|deleted]
                [--fail-first N] [--fail-status 503] [--port-file F] [--log F] [--lifetime S]
                [--export-image ami-ID=FILE]... [--export-instance i-ID=FILE]...
                [--describe ID=JSON]... [--deny ACTION]...

Listens on 127.0.0.1 (a free port), prints it and writes it to F. Each request
must be what botocore itself would send:
  - its SigV4 signature (service ec2, the region given) is recomputed with
    botocore.auth.SigV4Auth over an AWSRequest rebuilt from what arrived, at
    the request's own X-Amz-Date, with the secret given here; a mismatch (or
    another access key) is answered 401 AuthFailure, as EC2 does;
  - its form body is read back into the operation's input through botocore's
    EC2 service model, validated (botocore.validate) and serialized again with
    botocore's ec2 serializer: the parameters must be exactly those, and enum
    values among the model's;
  - an ImportImage / ImportSnapshot names S3 objects that exist (a HEAD to the
    S3 server given, signed with the same keys).
ImportImage and ImportSnapshot answer a task id (the same task for a ClientToken
seen before); Describe*Tasks answer it "active" --polls times, then as --end
says: "completed" with an ami-/snap- id, or "deleted" with a StatusMessage.
ExportImage of an AMI given with --export-image answers a task id (of another,
InvalidAMIID.NotFound); DescribeExportImageTasks answers it "active" --polls
times, then, as --end says, "completed" once FILE is PUT (signed) into the S3
server under the key AWS uses, S3Prefix + task id + ".vmdk"|".raw"|".vhd", or
"deleted" with a StatusMessage.
DescribeImages answers an AMI given with --export-image (of another,
InvalidAMIID.NotFound), DescribeInstances an instance given with --export-instance
(of another, InvalidInstanceID.NotFound), each with what --describe ID=JSON says of
it: EC2's own element names (name, bootMode, architecture, platform,
platformDetails, instanceType, currentInstanceBootMode; "tags": {"Name": ...}).
DescribeInstanceTypes answers the types in TYPES (of another, InvalidInstanceType).
CreateInstanceExportTask answers an export-i- task that DescribeExportTasks answers
as DescribeExportImageTasks does an AMI's ("cancelled" where --end says deleted),
the instance's FILE PUT under S3Prefix + task id + "." + the format, lowercase.
Each of these answers is read back through botocore's EC2 parser and checked to say
what it was meant to (the shape EC2's real XML has, as botocore's model reads it).
CancelExportTask of an export-ami- or export-i- task marks it cancelled (its polls then
answer "deleted" / "cancelled", with the message "Canceled by user"); of a task that is
completed (or that the next poll would complete: its object is then PUT, "completed
meanwhile") it answers 400 IncorrectState, as EC2 does for a finished task.
--deny ACTION answers ACTION 403 UnauthorizedOperation, as EC2 does when the IAM
policy does not allow it.
--fail-first N answers the first N requests --fail-status (a retry test).
--log F: one JSON object a line per request: action, params, status, auth ("ok",
"bad"), token (whether a session token came), error (what was wrong, if anything).
"""
import argparse, datetime, hashlib, json, re, threading, types, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest import mock
from urllib.parse import parse_qsl

import botocore.auth, botocore.session, botocore.validate
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from serve import serve

NS = "http://ec2.amazonaws.com/doc/2016-11-15/"
MODEL = botocore.session.get_session().get_service_model("ec2")
ACTIONS = {"ImportImage", "ImportSnapshot", "DescribeImportImageTasks", "DescribeImportSnapshotTasks",
           "ExportImage", "DescribeExportImageTasks", "DescribeImages", "DescribeInstances",
           "DescribeInstanceTypes", "CreateInstanceExportTask", "DescribeExportTasks", "CancelExportTask"}
# DescribeInstanceTypes: (DefaultVCpus, DefaultCores, MemoryInfo.SizeInMiB), as EC2 gives them
TYPES = {"t3.micro": (2, 1, 1024), "t3.large": (2, 1, 8192), "m5.xlarge": (4, 2, 16384), "c5.2xlarge": (8, 4, 16384)}


def frozen_clock(when):
    if hasattr(botocore.auth, "get_current_datetime"):
        return mock.patch("botocore.auth.get_current_datetime", return_value=when)

    class Frozen(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return when
    return mock.patch("botocore.auth.datetime", types.SimpleNamespace(datetime=Frozen))


def unflatten(shape, params, prefix):
    """The input value that the flattened EC2 parameters under prefix stand for."""
    if shape.type_name == "structure":
        out = {}
        for name, member in shape.members.items():
            ser = member.serialization  # as botocore's EC2Serializer names it
            wire = ser.get("queryName") or (ser["name"][0].upper() + ser["name"][1:] if "name" in ser else name)
            key = prefix + "." + wire if prefix else wire
            if any(k == key or k.startswith(key + ".") for k in params):
                out[name] = unflatten(member, params, key)
        return out
    if shape.type_name == "list":
        items, i = [], 1
        while any(k == "%s.%d" % (prefix, i) or k.startswith("%s.%d." % (prefix, i)) for k in params):
            items.append(unflatten(shape.member, params, "%s.%d" % (prefix, i)))
            i += 1
        return items
    value = params[prefix]
    if shape.type_name == "boolean":
        return value == "true"
    if shape.type_name in ("integer", "long"):
        return int(value)
    return value


def enums_ok(shape, value, path=""):
    if shape.type_name == "structure":
        return [e for k, v in value.items() for e in enums_ok(shape.members[k], v, path + "." + k)]
    if shape.type_name == "list":
        return [e for i, v in enumerate(value) for e in enums_ok(shape.member, v, "%s[%d]" % (path, i))]
    if shape.enum and value not in shape.enum:
        return ["%s: %r is not one of %s" % (path, value, shape.enum)]
    return []


def judge_params(action, form):
    """The operation's input from the form, or raises ValueError saying what botocore would not have sent."""
    op = MODEL.operation_model(action)
    params = {k: v for k, v in form.items() if k not in ("Action", "Version")}
    value = unflatten(op.input_shape, params, "") if op.input_shape else {}
    report = botocore.validate.ParamValidator().validate(value, op.input_shape)
    if report.has_errors():
        raise ValueError(report.generate_report())
    bad = enums_ok(op.input_shape, value)
    # Format is a plain string in the model; the API reference lists what VM Import takes
    disks = value.get("DiskContainers") or ([value["DiskContainer"]] if "DiskContainer" in value else [])
    bad += ["Format %r is not one VM Import takes" % d.get("Format") for d in disks
            if d.get("Format") not in ("OVA", "VHD", "VHDX", "VMDK", "RAW")]
    if bad:
        raise ValueError("; ".join(bad))
    want = create_serializer("ec2").serialize_to_request(value, op)["body"]
    if dict(want) != form:
        extra = sorted(set(form) - set(want))
        raise ValueError("not what botocore sends: unknown or misplaced %s; botocore: %s" % (extra, dict(want)))
    return value


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        pass

    def answer(self, code, xml, entry):
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n' + xml).encode()
        entry["status"] = code
        self.server.log(entry)
        self.send_response(code)
        self.send_header("Content-Type", "text/xml;charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def error(self, code, ec2_code, message, entry):
        entry["error"] = "%s: %s" % (ec2_code, message)
        self.answer(code, "<Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors>"
                          "<RequestID>fake-%d</RequestID></Response>" % (ec2_code, esc(message), id(entry)), entry)

    def check_signature(self, body):
        auth = self.headers.get("Authorization", "")
        m = re.fullmatch(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
                         r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})", auth)
        srv = self.server
        if not m:
            return "no SigV4 Authorization header"
        key, _, region, service, signed, _ = m.groups()
        if key != srv.access_key or region != srv.region or service != "ec2":
            return "credential scope %s/%s/%s is not %s/%s/ec2" % (key, region, service, srv.access_key, srv.region)
        date = self.headers.get("X-Amz-Date", "")
        when = datetime.datetime.strptime(date, "%Y%m%dT%H%M%SZ")
        headers = {}
        for h in signed.split(";"):
            if h not in ("host", "x-amz-date", "x-amz-security-token"):
                headers[h] = self.headers.get(h, "")
        req = AWSRequest(method=self.command, url="http://%s%s" % (self.headers["Host"], self.path),
                         data=body, headers=headers)
        auth_ = botocore.auth.SigV4Auth(Credentials(srv.access_key, srv.secret_key,
                                                    self.headers.get("X-Amz-Security-Token")), "ec2", srv.region)
        with frozen_clock(when):
            auth_.add_auth(req)
        if req.headers["Authorization"] != auth:
            return "signature mismatch (botocore: %s)" % req.headers["Authorization"]
        return None

    def do_POST(self):
        srv = self.server
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        form = dict(parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=True))
        action = form.get("Action", "")
        entry = {"action": action, "params": form, "auth": "-"}
        if srv.take_failure():
            return self.error(srv.fail_status, "InternalError" if srv.fail_status == 500 else "Unavailable",
                              "An internal error has occurred (the fake's --fail-first)", entry)
        bad = self.check_signature(body)
        entry["auth"] = "bad" if bad else "ok"
        entry["token"] = self.headers.get("X-Amz-Security-Token") is not None
        if bad:
            return self.error(401, "AuthFailure", "AWS was not able to validate the provided access credentials", entry)
        if form.get("Version") != "2016-11-15" or action not in ACTIONS:
            return self.error(400, "InvalidAction", "%s (Version %s) is not served here" % (action, form.get("Version")), entry)
        try:
            value = judge_params(action, form)
        except ValueError as e:
            return self.error(400, "InvalidParameterValue", str(e), entry)
        if action in srv.deny:
            return self.error(403, "UnauthorizedOperation", "You are not authorized to perform this operation.", entry)
        getattr(self, action)(value, entry)

    def object_missing(self, bucket):
        srv = self.server
        url = "%s/%s/%s" % (srv.s3, bucket["S3Bucket"], urllib.request.quote(bucket["S3Key"]))
        head = AWSRequest(method="HEAD", url=url)  # signed, for a server that checks (radosgw)
        botocore.auth.S3SigV4Auth(Credentials(srv.access_key, srv.secret_key), "s3", srv.region).add_auth(head)
        try:
            urllib.request.urlopen(urllib.request.Request(url, method="HEAD", headers=dict(head.headers.items())),
                                   timeout=10)
            return None
        except Exception as e:  # 404 and the like
            return "s3://%s/%s: %s" % (bucket["S3Bucket"], bucket["S3Key"], e)

    def start(self, kind, value, objects, entry):
        srv = self.server
        for o in objects:
            missing = self.object_missing(o)
            if missing:
                return None, self.error(400, "InvalidParameter", "The given S3 object does not exist: " + missing, entry)
        with srv.lock:
            token = value.get("ClientToken")
            if token and token in srv.tokens:
                task = srv.tokens[token]
                entry["reused"] = task
            else:
                srv.count += 1
                task = "import-%s-%08x" % ("ami" if kind == "image" else "snap", 0x1000 + srv.count)
                srv.tasks[task] = {"kind": kind, "polls": srv.polls, "value": value}
                if token:
                    srv.tokens[token] = task
        entry["task"] = task
        return task, None

    def ImportImage(self, value, entry):
        task, done = self.start("image", value, [d["UserBucket"] for d in value["DiskContainers"]], entry)
        if task:
            self.answer(200, '<ImportImageResponse xmlns="%s"><requestId>r1</requestId><importTaskId>%s</importTaskId>'
                             "<status>active</status><statusMessage>pending</statusMessage></ImportImageResponse>"
                        % (NS, task), entry)

    def ImportSnapshot(self, value, entry):
        task, done = self.start("snapshot", value, [value["DiskContainer"]["UserBucket"]], entry)
        if task:
            self.answer(200, '<ImportSnapshotResponse xmlns="%s"><requestId>r1</requestId><importTaskId>%s</importTaskId>'
                             "<snapshotTaskDetail><status>active</status><statusMessage>pending</statusMessage>"
                             "</snapshotTaskDetail></ImportSnapshotResponse>" % (NS, task), entry)

    def state(self, task):
        """(status, message, id) of task, one poll on."""
        srv = self.server
        with srv.lock:
            t = srv.tasks[task]
            if t.get("cancelled"):
                return "deleted", "Canceled by user", None
            if t["polls"] > 0:
                t["polls"] -= 1
                return "active", "converting", None
        if srv.end == "deleted":
            return "deleted", "ClientError: Unknown OS / Missing OS files.", None
        return "completed", None, ("ami-" if t["kind"] == "image" else "snap-") + hashlib.sha256(task.encode()).hexdigest()[:17]

    def describe(self, action, kind, value, entry):
        items = ""
        for task in value.get("ImportTaskIds", []):
            if task not in self.server.tasks or self.server.tasks[task]["kind"] != kind:
                return self.error(400, "InvalidConversionTaskId.Malformed", "unknown task " + task, entry)
            status, message, made = self.state(task)
            detail = "<status>%s</status>%s%s" % (
                status, "<statusMessage>%s</statusMessage>" % esc(message) if message else "",
                ("<imageId>%s</imageId>" if kind == "image" else "<snapshotId>%s</snapshotId>") % made if made else "")
            items += ("<item><importTaskId>%s</importTaskId>%s</item>" % (task, detail) if kind == "image" else
                      "<item><importTaskId>%s</importTaskId><snapshotTaskDetail>%s</snapshotTaskDetail></item>"
                      % (task, detail))
            entry["answered"] = status
        setname = "importImageTaskSet" if kind == "image" else "importSnapshotTaskSet"
        self.answer(200, '<%sResponse xmlns="%s"><requestId>r2</requestId><%s>%s</%s></%sResponse>'
                    % (action, NS, setname, items, setname, action), entry)

    def DescribeImportImageTasks(self, value, entry):
        self.describe("DescribeImportImageTasks", "image", value, entry)

    def DescribeImportSnapshotTasks(self, value, entry):
        self.describe("DescribeImportSnapshotTasks", "snapshot", value, entry)

    def ExportImage(self, value, entry):
        srv = self.server
        ami = value["ImageId"]
        if ami not in srv.exports:
            return self.error(400, "InvalidAMIID.NotFound", "The image id '[%s]' does not exist" % ami, entry)
        with srv.lock:
            srv.count += 1
            task = "export-ami-%017x" % (0x1000 + srv.count)
            srv.tasks[task] = {"kind": "export", "polls": srv.polls, "value": value}
        entry["task"] = task
        loc = value["S3ExportLocation"]
        self.answer(200, '<ExportImageResponse xmlns="%s"><requestId>r1</requestId><diskImageFormat>%s</diskImageFormat>'
                         "<exportImageTaskId>%s</exportImageTaskId><imageId>%s</imageId><progress>0</progress>"
                         "<s3ExportLocation><s3Bucket>%s</s3Bucket><s3Prefix>%s</s3Prefix></s3ExportLocation>"
                         "<status>active</status><statusMessage>validating</statusMessage></ExportImageResponse>"
                    % (NS, value["DiskImageFormat"], task, ami, esc(loc["S3Bucket"]), esc(loc.get("S3Prefix", ""))),
                    entry)

    def put_export(self, task):
        """PUTs the AMI's or instance's file where AWS writes an export: S3Prefix + task id + the format's extension."""
        srv = self.server
        t = srv.tasks[task]
        if t.get("put"):
            return
        v = t["value"]
        loc = v.get("S3ExportLocation") or v["ExportToS3Task"]
        key = loc.get("S3Prefix", "") + task + "." + (v.get("DiskImageFormat") or loc["DiskImageFormat"]).lower()
        url = "%s/%s/%s" % (srv.s3, loc["S3Bucket"], urllib.request.quote(key))
        data = open(srv.exports[v.get("ImageId") or v["InstanceId"]], "rb").read()
        put = AWSRequest(method="PUT", url=url, data=data)
        botocore.auth.S3SigV4Auth(Credentials(srv.access_key, srv.secret_key), "s3", srv.region).add_auth(put)
        urllib.request.urlopen(urllib.request.Request(url, data=data, method="PUT", headers=dict(put.headers.items())),
                               timeout=60)
        t["put"] = key

    def DescribeExportImageTasks(self, value, entry):
        items = ""
        for task in value.get("ExportImageTaskIds", []):
            if task not in self.server.tasks or self.server.tasks[task]["kind"] != "export":
                return self.error(400, "InvalidExportImageTaskId.NotFound", "unknown task " + task, entry)
            status, message, _ = self.state(task)
            if status == "completed":
                self.put_export(task)
            items += "<item><exportImageTaskId>%s</exportImageTaskId><status>%s</status>%s</item>" % (
                task, status, "<statusMessage>%s</statusMessage>" % esc(message) if message else "")
            entry["answered"] = status
        self.answer(200, '<DescribeExportImageTasksResponse xmlns="%s"><requestId>r2</requestId><exportImageTaskSet>%s'
                         "</exportImageTaskSet></DescribeExportImageTasksResponse>" % (NS, items), entry)

    def CancelExportTask(self, value, entry):
        srv = self.server
        task = value["ExportTaskId"]
        t = srv.tasks.get(task)
        if not t or t["kind"] not in ("export", "instance-export"):
            return self.error(400, "InvalidExportTaskID.NotFound", "The export task ID '%s' does not exist" % task, entry)
        with srv.lock:
            done = t["polls"] <= 0 and srv.end == "completed" and not t.get("cancelled")
            t["cancelled"] = t.get("cancelled") or not done
        if done:
            self.put_export(task)  # it finished meanwhile
            return self.error(400, "IncorrectState", "Export task %s is completed and cannot be cancelled" % task, entry)
        entry["cancelled"] = task
        self.answer_read("CancelExportTask", '<CancelExportTaskResponse xmlns="%s"><requestId>r8</requestId>'
                         "<return>true</return></CancelExportTaskResponse>" % NS, entry, lambda r: True)

    def answer_read(self, action, xml, entry, expect):
        """Answers xml after reading it back through botocore's parser: expect(parsed) must hold."""
        parsed = create_parser("ec2").parse({"body": ('<?xml version="1.0" encoding="UTF-8"?>\n' + xml).encode(),
                                             "headers": {}, "status_code": 200},
                                            MODEL.operation_model(action).output_shape)
        if not expect(parsed):  # the fake's own fault: said in the log, and to the client
            return self.error(500, "InternalError", "the fake's answer reads otherwise in botocore: %r" % parsed, entry)
        self.answer(200, xml, entry)

    def said(self, rid):
        return self.server.describe.get(rid, {})

    def unknown(self, rid, entry):
        """Answers EC2's NotFound for an AMI or instance not given with --export-*; whether it did."""
        if rid in self.server.exports and rid.startswith(("ami-", "i-")):
            return False
        if rid.startswith("ami-"):
            self.error(400, "InvalidAMIID.NotFound", "The image id '[%s]' does not exist" % rid, entry)
        else:
            self.error(400, "InvalidInstanceID.NotFound", "The instance ID '%s' does not exist" % rid, entry)
        return True

    def DescribeImages(self, value, entry):
        items = ""
        for ami in value.get("ImageIds", []):
            if self.unknown(ami, entry):
                return
            d = self.said(ami)
            optional = "".join("<%s>%s</%s>" % (k, esc(d[k]), k) for k in ("platform", "platformDetails", "bootMode") if k in d)
            items += ("<item><imageId>%s</imageId><imageLocation>123456789012/%s</imageLocation><imageState>available"
                      "</imageState><imageOwnerId>123456789012</imageOwnerId><creationDate>2026-01-02T03:04:05.000Z"
                      "</creationDate><isPublic>false</isPublic><architecture>%s</architecture><imageType>machine"
                      "</imageType><name>%s</name><rootDeviceType>ebs</rootDeviceType><rootDeviceName>/dev/xvda"
                      "</rootDeviceName><blockDeviceMapping><item><deviceName>/dev/xvda</deviceName><ebs><snapshotId>"
                      "snap-0123456789abcdef0</snapshotId><volumeSize>8</volumeSize><deleteOnTermination>true"
                      "</deleteOnTermination><volumeType>gp3</volumeType><encrypted>false</encrypted></ebs></item>"
                      "</blockDeviceMapping><virtualizationType>hvm</virtualizationType><hypervisor>xen</hypervisor>"
                      "<enaSupport>true</enaSupport>%s<usageOperation>RunInstances</usageOperation></item>"
                      % (ami, esc(d.get("name", ami)), d.get("architecture", "x86_64"), esc(d.get("name", ami)), optional))
        self.answer_read("DescribeImages", '<DescribeImagesResponse xmlns="%s"><requestId>r3</requestId><imagesSet>%s'
                         "</imagesSet></DescribeImagesResponse>" % (NS, items), entry,
                         lambda r: [i["ImageId"] for i in r["Images"]] == value.get("ImageIds", []) and
                         all(i.get("BootMode") == self.said(i["ImageId"]).get("bootMode") for i in r["Images"]))

    def DescribeInstances(self, value, entry):
        srv = self.server
        items = ""
        for iid in value.get("InstanceIds", []):
            if self.unknown(iid, entry):
                return
            d = self.said(iid)
            tags = "".join("<item><key>%s</key><value>%s</value></item>" % (esc(k), esc(v)) for k, v in d.get("tags", {}).items())
            optional = "".join("<%s>%s</%s>" % (k, esc(d[k]), k) for k in ("platform", "platformDetails", "bootMode",
                                                                             "currentInstanceBootMode") if k in d)
            items += ("<item><instanceId>%s</instanceId><imageId>ami-0123456789abcdef0</imageId><instanceState><code>80"
                      "</code><name>stopped</name></instanceState><privateDnsName>ip-10-0-0-5.ec2.internal</privateDnsName>"
                      "<dnsName/><reason/><amiLaunchIndex>0</amiLaunchIndex><productCodes/><instanceType>%s</instanceType>"
                      "<launchTime>2026-01-02T03:04:05.000Z</launchTime><placement><availabilityZone>%sa</availabilityZone>"
                      "<groupName/><tenancy>default</tenancy></placement><monitoring><state>disabled</state></monitoring>"
                      "<architecture>%s</architecture><rootDeviceType>ebs</rootDeviceType><rootDeviceName>/dev/xvda"
                      "</rootDeviceName><blockDeviceMapping><item><deviceName>/dev/xvda</deviceName><ebs><volumeId>"
                      "vol-0123456789abcdef0</volumeId><status>attached</status><attachTime>2026-01-02T03:04:06.000Z"
                      "</attachTime><deleteOnTermination>true</deleteOnTermination></ebs></item></blockDeviceMapping>"
                      "<virtualizationType>hvm</virtualizationType><tagSet>%s</tagSet><hypervisor>xen</hypervisor>"
                      "%s<usageOperation>RunInstances</usageOperation></item>"
                      % (iid, d.get("instanceType", "t3.micro"), srv.region, d.get("architecture", "x86_64"), tags, optional))
        xml = ('<DescribeInstancesResponse xmlns="%s"><requestId>r4</requestId><reservationSet><item><reservationId>'
               "r-0123456789abcdef0</reservationId><ownerId>123456789012</ownerId><groupSet/><instancesSet>%s"
               "</instancesSet></item></reservationSet></DescribeInstancesResponse>" % (NS, items))
        self.answer_read("DescribeInstances", xml, entry, lambda r: [
            (i["InstanceId"], i["InstanceType"], {t["Key"]: t["Value"] for t in i.get("Tags", [])})
            for i in r["Reservations"][0]["Instances"]] == [
            (i, self.said(i).get("instanceType", "t3.micro"), self.said(i).get("tags", {})) for i in value["InstanceIds"]])

    def DescribeInstanceTypes(self, value, entry):
        items = ""
        for t in value.get("InstanceTypes", []):
            if t not in TYPES:
                return self.error(400, "InvalidInstanceType", "The following supplied instance types do not exist: [%s]" % t, entry)
            vcpus, cores, mib = TYPES[t]
            items += ("<item><instanceType>%s</instanceType><currentGeneration>true</currentGeneration>"
                      "<processorInfo><supportedArchitectures><item>x86_64</item></supportedArchitectures>"
                      "</processorInfo><vCpuInfo><defaultVCpus>%d</defaultVCpus><defaultCores>%d</defaultCores>"
                      "<defaultThreadsPerCore>%d</defaultThreadsPerCore></vCpuInfo><memoryInfo><sizeInMiB>%d</sizeInMiB>"
                      "</memoryInfo><hypervisor>nitro</hypervisor></item>" % (t, vcpus, cores, vcpus // cores, mib))
        self.answer_read("DescribeInstanceTypes", '<DescribeInstanceTypesResponse xmlns="%s"><requestId>r5</requestId>'
                         "<instanceTypeSet>%s</instanceTypeSet></DescribeInstanceTypesResponse>" % (NS, items), entry,
                         lambda r: [(i["InstanceType"], i["VCpuInfo"]["DefaultVCpus"], i["MemoryInfo"]["SizeInMiB"])
                                    for i in r["InstanceTypes"]] ==
                         [(t, TYPES[t][0], TYPES[t][2]) for t in value.get("InstanceTypes", [])])

    def export_task(self, task, state, message):
        t = self.server.tasks[task]["value"]
        loc = t["ExportToS3Task"]
        fmt = loc["DiskImageFormat"].lower()
        return ("<exportTaskId>%s</exportTaskId><description/><state>%s</state><statusMessage>%s</statusMessage>"
                "<instanceExport><instanceId>%s</instanceId><targetEnvironment>%s</targetEnvironment></instanceExport>"
                "<exportToS3><diskImageFormat>%s</diskImageFormat><s3Bucket>%s</s3Bucket><s3Key>%s</s3Key></exportToS3>"
                % (task, state, esc(message or ""), t["InstanceId"], t["TargetEnvironment"], fmt, esc(loc["S3Bucket"]),
                   esc(loc.get("S3Prefix", "") + task + "." + fmt)))

    def CreateInstanceExportTask(self, value, entry):
        srv = self.server
        iid = value["InstanceId"]
        if self.unknown(iid, entry):
            return
        with srv.lock:
            srv.count += 1
            task = "export-i-%017x" % (0x1000 + srv.count)
            srv.tasks[task] = {"kind": "instance-export", "polls": srv.polls, "value": value}
        entry["task"] = task
        self.answer_read("CreateInstanceExportTask", '<CreateInstanceExportTaskResponse xmlns="%s"><requestId>r6'
                         "</requestId><exportTask>%s</exportTask></CreateInstanceExportTaskResponse>"
                         % (NS, self.export_task(task, "active", "")), entry,
                         lambda r: r["ExportTask"]["ExportTaskId"] == task and r["ExportTask"]["State"] == "active")

    def DescribeExportTasks(self, value, entry):
        items, states = "", {}
        for task in value.get("ExportTaskIds", []):
            if task not in self.server.tasks or self.server.tasks[task]["kind"] != "instance-export":
                return self.error(400, "InvalidExportTaskID.NotFound", "The export task ID '%s' does not exist" % task, entry)
            status, message, _ = self.state(task)
            status = "cancelled" if status == "deleted" else status
            if status == "completed":
                self.put_export(task)
            items += "<item>%s</item>" % self.export_task(task, status, message)
            states[task] = entry["answered"] = status
        self.answer_read("DescribeExportTasks", '<DescribeExportTasksResponse xmlns="%s"><requestId>r7</requestId>'
                         "<exportTaskSet>%s</exportTaskSet></DescribeExportTasksResponse>" % (NS, items), entry,
                         lambda r: {t["ExportTaskId"]: t["State"] for t in r["ExportTasks"]} == states)


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, args):
        super().__init__(("127.0.0.1", args.port), Handler)
        self.s3, self.access_key, self.secret_key, self.region = args.s3.rstrip("/"), args.access_key, args.secret_key, args.region
        self.polls, self.end, self.fail_first, self.fail_status = args.polls, args.end, args.fail_first, args.fail_status
        self.log_path, self.lock, self.tasks, self.tokens, self.count = args.log, threading.Lock(), {}, {}, 0
        self.exports = dict(e.split("=", 1) for e in args.export_image + args.export_instance)
        self.describe = {k: json.loads(v) for k, v in (d.split("=", 1) for d in args.describe)}
        self.deny = set(args.deny)

    def take_failure(self):
        with self.lock:
            if self.fail_first > 0:
                self.fail_first -= 1
                return True
        return False

    def log(self, entry):
        if self.log_path:
            with self.lock, open(self.log_path, "a") as f:
                f.write(json.dumps(entry) + "\n")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--s3", required=True)
    p.add_argument("--access-key", required=True)
    p.add_argument("--secret-key", required=True)
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--polls", type=int, default=2)
    p.add_argument("--end", choices=("completed", "deleted"), default="completed")
    p.add_argument("--fail-first", type=int, default=0)
    p.add_argument("--fail-status", type=int, default=503)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--log")
    p.add_argument("--lifetime", type=float, default=300)
    p.add_argument("--export-image", action="append", default=[], metavar="AMI=FILE")
    p.add_argument("--export-instance", action="append", default=[], metavar="INSTANCE=FILE")
    p.add_argument("--describe", action="append", default=[], metavar="ID=JSON")
    p.add_argument("--deny", action="append", default=[], metavar="ACTION")
    args = p.parse_args()
    serve(Server(args), args.port_file, args.lifetime)


if __name__ == "__main__":
    main()
