#!/usr/bin/env python3
"""botocore as the judge of envpack's SigV4 signer (tests/cases/t90-sigv4.sh).

    sigv4_judge.py --list          the request shapes, one a line
    sigv4_judge.py SIGN_TOOL SHAPE signs SHAPE with botocore and with SIGN_TOOL
                                   (build/.../sigv4-sign) at the same fixed
                                   time; exits 0 when both agree

The shapes are the requests envpack's S3 client will send. botocore builds the
Host header from the URL and hashes the body itself, so those are judged too.
"""
import datetime
import hashlib
import os
import subprocess
import sys
import tempfile
import types
from unittest import mock
from urllib.parse import parse_qsl, quote, urlsplit

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

DATE = datetime.datetime(2015, 8, 30, 12, 36, 0)
AMZ_DATE = '20150830T123600Z'
AKID = 'AKIDEXAMPLE'
SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY'  # the AWS suite's example secret
TOKEN = 'AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTf+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=='
MINIO = 'http://127.0.0.1:9000'
UPLOAD_ID = 'VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA--'
COMPLETE = (b'<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>'
            b'<ETag>"a54357aff0632cce46d942af68356b38"</ETag></Part></CompleteMultipartUpload>')


def shape(method, path, params=(), headers=None, body=b'', endpoint=MINIO, region='us-east-1',
          service='s3', token=None, presign=0):
    return dict(method=method, path=path, params=list(params), headers=headers or {}, body=body,
                endpoint=endpoint, region=region, service=service, token=token, presign=presign)


SHAPES = {
    'put-object': shape('PUT', '/bucket/chunks/ab/abcdef.zst', body=b'hello, world\n' * 100,
                        headers={'Content-Type': 'application/octet-stream', 'Content-Length': '1300'}),
    'get-range': shape('GET', '/bucket/chunks/ab/abcdef.zst', headers={'Range': 'bytes=1048576-2097151'}),
    'head-object': shape('HEAD', '/bucket/web.envpack'),
    'create-multipart': shape('POST', '/bucket/web.envpack', [('uploads', None)]),
    'upload-part': shape('PUT', '/bucket/web.envpack', [('partNumber', '7'), ('uploadId', UPLOAD_ID)],
                         body=os.urandom(4096), headers={'Content-Length': '4096'}),
    'complete-multipart': shape('POST', '/bucket/web.envpack', [('uploadId', UPLOAD_ID)], body=COMPLETE,
                                headers={'Content-Type': 'application/xml'}),
    'abort-multipart': shape('DELETE', '/bucket/web.envpack', [('uploadId', UPLOAD_ID)]),
    'delete-object': shape('DELETE', '/bucket/old/web.envpack'),
    'list-objects-v2': shape('GET', '/bucket', [('list-type', '2'), ('prefix', 'a/b'),
                                                ('continuation-token', '1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM='),
                                                ('max-keys', '1000')]),
    'key-spaces': shape('GET', '/bucket/my disk  image.raw'),
    'key-unicode': shape('PUT', '/bucket/dïsk/ሴ-日本語-é.qcow2', body=b'x'),
    'key-plus-equals-slash': shape('GET', '/bucket/a+b=c/d+e==/f'),
    'key-punctuation': shape('GET', "/bucket/it's (1)!*&$@,;:?#[]%.raw"),
    'key-dots': shape('GET', '/bucket/a/./b/../c//d'),
    'session-token': shape('PUT', '/bucket/web.envpack', body=b'data', token=TOKEN),
    'aws-endpoint': shape('GET', '/web.envpack', endpoint='https://bucket.s3.eu-west-1.amazonaws.com',
                          region='eu-west-1'),
    'presign-get': shape('GET', '/bucket/chunks/ab/a b+c.zst', presign=900),
    'presign-token': shape('GET', '/bucket/web.envpack', [('partNumber', '1')], presign=3600, token=TOKEN),
    'generic-service': shape('POST', '/a/./b/../c d/', [('Action', 'ListUsers'), ('Version', '2010-05-08')],
                             body=b'x=1', service='iam'),
}


def encode(s, safe):
    return quote(s, safe=safe)


def frozen_clock():
    if hasattr(botocore.auth, 'get_current_datetime'):
        return mock.patch('botocore.auth.get_current_datetime', return_value=DATE)

    class Frozen(datetime.datetime):  # older botocore read datetime.datetime.utcnow()
        @classmethod
        def utcnow(cls):
            return DATE
    return mock.patch('botocore.auth.datetime', types.SimpleNamespace(datetime=Frozen))


def botocore_sign(s, url):
    creds = Credentials(AKID, SECRET, s['token'])
    if s['presign']:
        auth = botocore.auth.S3SigV4QueryAuth(creds, s['service'], s['region'], expires=s['presign'])
    elif s['service'] == 's3':
        auth = botocore.auth.S3SigV4Auth(creds, s['service'], s['region'])
    else:
        auth = botocore.auth.SigV4Auth(creds, s['service'], s['region'])
    req = AWSRequest(method=s['method'], url=url, data=s['body'], headers=dict(s['headers']))
    with frozen_clock():
        auth.add_auth(req)
    if s['presign']:
        return req.url
    return req.headers['Authorization']


def main():
    if sys.argv[1:] == ['--list']:
        print('\n'.join(SHAPES))
        return 0
    tool, name = sys.argv[1], sys.argv[2]
    s = SHAPES[name]
    query = '&'.join(encode(k, '-_.~') + ('' if v is None else '=' + encode(v, '-_.~')) for k, v in s['params'])
    url = s['endpoint'] + encode(s['path'], '/~') + ('?' + query if query else '')
    want = botocore_sign(s, url)
    host = urlsplit(s['endpoint']).netloc
    env = dict(os.environ, AWS_ACCESS_KEY_ID=AKID, AWS_SECRET_ACCESS_KEY=SECRET)
    env.pop('AWS_SESSION_TOKEN', None)
    if s['token']:
        env['AWS_SESSION_TOKEN'] = s['token']
    with tempfile.NamedTemporaryFile() as body:
        body.write(s['body'])
        body.flush()
        cmd = [tool, '-r', s['region'], '-s', s['service'], '-t', AMZ_DATE, '-b', body.name]
        if s['presign']:
            cmd += ['-p', str(s['presign'])]
        cmd += [s['method'], s['path'], query, 'host:' + host]
        cmd += [f'{k}:{v}' for k, v in s['headers'].items()]
        got = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout.strip()
    if s['presign']:  # the same parameters, whatever their order
        want = sorted(parse_qsl(urlsplit(want).query, keep_blank_values=True))
        got = sorted(parse_qsl(got, keep_blank_values=True))
    if want != got:
        print(f'{name}: botocore signed\n  {want}\nenvpack signed\n  {got}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
