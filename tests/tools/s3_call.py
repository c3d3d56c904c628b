#!/usr/bin/env python3
"""One S3 call through botocore, an independent client to judge a server with
(tests/radosgw.sh). awscli 2.9 crashes printing radosgw's empty error messages;
botocore reads the error code as the server sent it.

    s3_call.py ENDPOINT OPERATION [PARAMS_JSON] [--header NAME:VALUE]... [--body FILE] [--out FILE]
    s3_call.py ENDPOINT --keys BUCKET [PREFIX]

OPERATION is botocore's name (PutObject, DeleteObject, ListObjectVersions, ...),
PARAMS_JSON its parameters ({"Bucket": "b", "Key": "k"}); a JSON string value for
Policy is passed as text. --body FILE is PutObject's Body, --out FILE receives
GetObject's. --header adds a header botocore has no parameter for (If-None-Match
on PutObject, in botocore before 1.35). The credentials are AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY; path-style addressing, region us-east-1, one attempt.

--keys lists the keys under PREFIX, one a line, through every page of
ListObjectsV2. Otherwise prints the answer as JSON (without ResponseMetadata; datetimes as text) and exits
0, or prints "ERROR STATUS CODE" (e.g. "ERROR 403 AccessDenied") and exits 1.
"""
import argparse
import json
import os
import sys

import botocore.config
import botocore.exceptions
import botocore.session


def list_keys(client, bucket, prefix=''):
    try:
        for page in client.get_paginator('list_objects_v2').paginate(Bucket=bucket, Prefix=prefix):
            for o in page.get('Contents', []):
                print(o['Key'])
    except botocore.exceptions.ClientError as e:
        print('ERROR %s %s' % (e.response['ResponseMetadata'].get('HTTPStatusCode'), e.response['Error'].get('Code')))
        return 1
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('endpoint')
    ap.add_argument('operation', nargs='?')
    ap.add_argument('params', nargs='?', default='{}')
    ap.add_argument('--keys', nargs='+', metavar=('BUCKET', 'PREFIX'))
    ap.add_argument('--header', action='append', default=[])
    ap.add_argument('--body')
    ap.add_argument('--out')
    a = ap.parse_args()
    params = json.loads(a.params)
    if isinstance(params.get('Policy'), dict):
        params['Policy'] = json.dumps(params['Policy'])
    if a.body:
        with open(a.body, 'rb') as f:
            params['Body'] = f.read()
    session = botocore.session.get_session()
    client = session.create_client(
        's3', region_name='us-east-1', endpoint_url=a.endpoint,
        aws_access_key_id=os.environ['AWS_ACCESS_KEY_ID'], aws_secret_access_key=os.environ['AWS_SECRET_ACCESS_KEY'],
        config=botocore.config.Config(s3={'addressing_style': 'path'}, retries={'max_attempts': 1},
                                      connect_timeout=10, read_timeout=60))
    if a.keys:
        return list_keys(client, *a.keys)
    name = ''.join('_' + c.lower() if c.isupper() else c for c in a.operation).lstrip('_')
    headers = [h.split(':', 1) for h in a.header]

    def add_headers(request, **_):
        for k, v in headers:
            request.headers[k.strip()] = v.strip()

    client.meta.events.register('before-sign.s3.' + a.operation, add_headers)
    try:
        answer = getattr(client, name)(**params)
    except botocore.exceptions.ClientError as e:
        print('ERROR %s %s' % (e.response['ResponseMetadata'].get('HTTPStatusCode'), e.response['Error'].get('Code')))
        return 1
    answer.pop('ResponseMetadata', None)
    body = answer.pop('Body', None)
    if body is not None:
        data = body.read()
        if a.out:
            with open(a.out, 'wb') as f:
                f.write(data)
    print(json.dumps(answer, default=str, sort_keys=True))
    return 0


if __name__ == '__main__':
    sys.exit(main())
