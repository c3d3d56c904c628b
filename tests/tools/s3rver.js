#!/usr/bin/env node
// s3rver 3.7.1 (a real S3 server in node: path-style buckets, objects on disk,
// multipart uploads, HEAD, ranged GET) with what it lacks and envpack's S3
// client needs, added in front of its routes:
//
//   SigV4 header signatures checked (s3rver takes any well-formed one whose key
//   id it knows): method, path as sent, sorted query, the signed headers (host,
//   x-amz-date and x-amz-content-sha256 among them), x-amz-content-sha256 as
//   given (the body is not hashed against it), the scope's date, a clock skew
//   of 15 min at most: else 403 SignatureDoesNotMatch / RequestTimeTooSkewed /
//   InvalidAccessKeyId, 400 AuthorizationHeaderMalformed. Unsigned requests are
//   let through as anonymous, as s3rver does; presigned URLs are not checked.
//   GET    /BUCKET/KEY?uploadId=ID   ListParts (PartNumber, ETag, Size, LastModified)
//   DELETE /BUCKET/KEY?uploadId=ID   AbortMultipartUpload (204; 404 NoSuchUpload)
//   PUT    /BUCKET/KEY  and  POST /BUCKET/KEY?uploadId=ID (complete) with
//          If-None-Match: *          412 PreconditionFailed when KEY exists
//   GET    /BUCKET?uploads[&prefix=] ListMultipartUploads (all of them, no paging)
//   PUT    a body the client stops sending midway (killed) leaves no object, as on
//          S3: s3rver itself writes the object where it is read as it arrives, so a
//          killed client left a truncated one; here the body goes to a file beside
//          the storage first, and only a whole one becomes the object
//   PUT    (objects and parts) with an aws-chunked body (x-amz-content-sha256:
//          STREAMING-AWS4-HMAC-SHA256-PAYLOAD, what minio-go, and so restic, sends
//          over plain HTTP): stored decoded, as S3 does (s3rver stored the chunk
//          framing as the object's bytes); the chunk signatures are not checked
//
//   node s3rver.js --dir DIR --bucket NAME [--port N] [--port-file F] [--log F]
//                  [--lifetime S] [--s3rver-dir build/node/node_modules/s3rver]
//
// Listens on 127.0.0.1:N (0, the default: a free port), creates the bucket,
// then writes the port to F (atomically). With --log, one line a request:
// "START END METHOD URL STATUS" (STATUS "-": the connection went first).
// Exits by itself after --lifetime seconds (default 1800). Credentials:
// s3rver's fixed account S3RVER / S3RVER. Note: a multipart object's ETag is
// the MD5 of the whole object here, not S3's "MD5-of-part-MD5s-N".
'use strict';
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');

const args = { port: '0', lifetime: '1800', 's3rver-dir': path.join(__dirname, '../../build/node/node_modules/s3rver') };
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i].replace(/^--/, '');
  if (!(k in args) && !['dir', 'bucket', 'port-file', 'log'].includes(k)) {
    console.error(`s3rver.js: unknown option ${process.argv[i]}`);
    process.exit(2);
  }
  args[k] = process.argv[i + 1];
}
if (!args.dir || !args.bucket) {
  console.error('usage: s3rver.js --dir DIR --bucket NAME [--port N] [--port-file F] [--log F] [--lifetime S]');
  process.exit(2);
}
const lib = path.join(path.resolve(args['s3rver-dir']), 'lib');
const S3rver = require(lib + '/s3rver.js');
const router = require(lib + '/routes.js');
const S3Error = require(lib + '/models/error.js');
const FilesystemStore = require(lib + '/stores/filesystem.js');
const { pipeline } = require('stream/promises');
const { Transform } = require('stream');

// aws-chunked: "<hex size>;chunk-signature=<sig>\r\n<data>\r\n" ... "0;chunk-signature=<sig>\r\n\r\n"
const streaming = body => /^STREAMING-/.test((body && body.headers && body.headers['x-amz-content-sha256']) || '');
function awsChunked() {
  let buf = Buffer.alloc(0), left = 0, state = 'head'; // head, data, crlf, done (trailers ignored)
  return new Transform({
    transform(chunk, encoding, callback) {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      const out = [];
      for (;;) {
        if (state === 'head') {
          const i = buf.indexOf('\r\n');
          if (i < 0) {
            if (buf.length > 4096) return callback(new Error('aws-chunked: no chunk header'));
            break;
          }
          const size = parseInt(buf.subarray(0, i).toString('latin1').split(';')[0], 16);
          if (!(size >= 0)) return callback(new Error('aws-chunked: a bad chunk size'));
          buf = buf.subarray(i + 2);
          if (size === 0) state = 'done';
          else [left, state] = [size, 'data'];
        } else if (state === 'data' && buf.length) {
          const n = Math.min(left, buf.length);
          out.push(buf.subarray(0, n));
          buf = buf.subarray(n);
          if (!(left -= n)) state = 'crlf';
        } else if (state === 'crlf' && buf.length >= 2) {
          [buf, state] = [buf.subarray(2), 'head'];
        } else {
          break;
        }
      }
      callback(null, out.length ? Buffer.concat(out) : undefined);
    },
    flush(callback) {
      callback(state === 'done' ? null : new Error('aws-chunked: the body ended midway'));
    },
  });
}

// a body, decoded when aws-chunked, into a file beside the storage; rejects when it stops short
let partials = 0;
async function spool(content) {
  const tmp = path.join(path.dirname(path.resolve(args.dir)), `partial-${process.pid}-${++partials}`);
  try {
    await pipeline(content, ...(streaming(content) ? [awsChunked()] : []), fs.createWriteStream(tmp));
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  return tmp;
}

const wholePut = FilesystemStore.prototype.putObject;
FilesystemStore.prototype.putObject = async function putObject(object) {
  if (!object.content || Buffer.isBuffer(object.content)) return wholePut.call(this, object);
  const ce = (object.metadata['content-encoding'] || '').split(',').map(x => x.trim()).filter(x => x && x !== 'aws-chunked');
  if (ce.length) object.metadata['content-encoding'] = ce.join(', ');
  else delete object.metadata['content-encoding'];
  const tmp = await spool(object.content);
  try {
    object.content = fs.createReadStream(tmp);
    return await wholePut.call(this, object);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
};

const wholePart = FilesystemStore.prototype.putPart;
FilesystemStore.prototype.putPart = async function putPart(bucket, uploadId, partNumber, content) {
  if (!streaming(content)) return wholePart.call(this, bucket, uploadId, partNumber, content);
  const tmp = await spool(content);
  try {
    return await wholePart.call(this, bucket, uploadId, partNumber, fs.createReadStream(tmp));
  } finally {
    fs.rmSync(tmp, { force: true });
  }
};

async function uploadDir(ctx) {
  const dir = path.join(ctx.store.getResourcePath(ctx.params.bucket, undefined, 'uploads'), ctx.query.uploadId);
  let key;
  try {
    key = fs.readFileSync(path.join(dir, 'key'), 'utf8');
  } catch (e) {
    key = undefined;
  }
  if (!/^[0-9a-f]+$/.test(ctx.query.uploadId) || key !== ctx.params.key) {
    throw new S3Error('NoSuchUpload', 'The specified upload does not exist. The upload ID may be invalid, ' +
      'or the upload may have been aborted or completed.', { UploadId: ctx.query.uploadId });
  }
  return dir;
}

async function ifNoneMatch(ctx) {
  const inm = ctx.get('if-none-match');
  if (!inm) return;
  if (inm.trim() !== '*') {
    throw new S3Error('NotImplemented', 'A header you provided implies functionality that is not implemented',
      { Header: 'If-None-Match' });
  }
  if (await ctx.store.existsObject(ctx.params.bucket, ctx.params.key)) {
    throw new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold',
      { Condition: 'If-None-Match' });
  }
}

async function extensions(ctx, next) {
  const q = ctx.params.queryMethod;
  if (ctx.method === 'GET' && q === 'uploadId') {
    const dir = await uploadDir(ctx);
    const parts = fs.readdirSync(dir).filter(n => /^[0-9]+$/.test(n)).map(Number).sort((a, b) => a - b)
      .map(n => {
        const st = fs.statSync(path.join(dir, String(n)));
        const md5 = fs.readFileSync(path.join(dir, n + '.md5'), 'utf8').trim();
        return { PartNumber: n, LastModified: st.mtime.toISOString(), ETag: JSON.stringify(md5), Size: st.size };
      });
    ctx.body = {
      ListPartsResult: {
        '@': { xmlns: 'http://s3.amazonaws.com/doc/2006-03-01/' },
        Bucket: ctx.params.bucket,
        Key: ctx.params.key,
        UploadId: ctx.query.uploadId,
        StorageClass: 'STANDARD',
        PartNumberMarker: 0,
        NextPartNumberMarker: parts.length ? parts[parts.length - 1].PartNumber : 0,
        MaxParts: 10000,
        IsTruncated: false,
        Part: parts,
      },
    };
    return;
  }
  if (ctx.method === 'DELETE' && q === 'uploadId') {
    const dir = await uploadDir(ctx);
    fs.rmSync(dir, { recursive: true, force: true });
    ctx.status = 204;
    return;
  }
  if ((ctx.method === 'PUT' && q === undefined && !('x-amz-copy-source' in ctx.headers)) ||
      (ctx.method === 'POST' && q === 'uploadId')) {
    await ifNoneMatch(ctx);
  }
  return next();
}

// GET /BUCKET?uploads[&prefix=P]: ListMultipartUploads (no paging: every upload)
async function bucketExtensions(ctx, next) {
  if (!(ctx.method === 'GET' && ctx.params.queryMethod === 'uploads')) return next();
  const root = ctx.store.getResourcePath(ctx.params.bucket, undefined, 'uploads');
  const prefix = ctx.query.prefix || '';
  let ids = [];
  try {
    ids = fs.readdirSync(root);
  } catch (e) {
    ids = [];
  }
  const uploads = [];
  for (const id of ids.sort()) {
    let key;
    try {
      key = fs.readFileSync(path.join(root, id, 'key'), 'utf8');
    } catch (e) {
      continue;
    }
    if (!key.startsWith(prefix)) continue;
    const owner = { ID: '123456789000', DisplayName: 'S3rver' };
    uploads.push({ Key: key, UploadId: id, Initiator: owner, Owner: owner, StorageClass: 'STANDARD',
      Initiated: fs.statSync(path.join(root, id)).mtime.toISOString() });
  }
  uploads.sort((a, b) => (a.Key < b.Key ? -1 : a.Key > b.Key ? 1 : a.Initiated < b.Initiated ? -1 : 1));
  ctx.body = {
    ListMultipartUploadsResult: {
      '@': { xmlns: 'http://s3.amazonaws.com/doc/2006-03-01/' },
      Bucket: ctx.params.bucket, KeyMarker: '', UploadIdMarker: '', NextKeyMarker: '', NextUploadIdMarker: '',
      Prefix: prefix, MaxUploads: 1000, IsTruncated: false, Upload: uploads,
    },
  };
}

// our layers go right after the one that checks the bucket and sets queryMethod
// (itself after the signature check), before the object routes that would answer 405
for (const [where, fn] of [['/:bucket/:key+', extensions], ['/:bucket', bucketExtensions]]) {
  router.use(where, fn);
  const ours = router.stack.pop();
  const at = router.stack.findIndex(l => l.path === where && l.methods.length === 0 &&
    l.stack.some(f => f.name === 'queryMethod'));
  if (at < 0) {
    console.error(`s3rver.js: this s3rver has no queryMethod layer for ${where} (not 3.7.x?)`);
    process.exit(1);
  }
  router.stack.splice(at + 1, 0, ours);
}

// s3rver 3.7.1 takes any well-formed SigV4 header signature whose key id it
// knows ("Signature version 4 calculation is unimplemented"): check it here,
// before its routes, from the request as it came (AWS's documented algorithm)
const SECRETS = { S3RVER: 'S3RVER' };
const rfc3986 = str => encodeURIComponent(str).replace(/[!'()*]/g, c => '%' + c.charCodeAt(0).toString(16).toUpperCase());
const hmac = (key, data) => crypto.createHmac('sha256', key).update(data, 'utf8').digest();
function sigv4(ctx) {
  const auth = ctx.get('authorization');
  if (!/^AWS4-HMAC-SHA256 /i.test(auth)) return; // unsigned and V2: s3rver's own rules
  const m = /^AWS4-HMAC-SHA256\s+Credential=([^/,\s]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request,\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]{64})\s*$/i.exec(auth);
  if (!m) throw new S3Error('AuthorizationHeaderMalformed', 'The authorization header is malformed.', {});
  const [, keyId, day, region, service, signed, given] = m;
  if (!(keyId in SECRETS)) {
    throw new S3Error('InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.',
      { AWSAccessKeyId: keyId });
  }
  const amzDate = ctx.get('x-amz-date');
  const payload = ctx.get('x-amz-content-sha256');
  const names = signed.split(';');
  if (!/^\d{8}T\d{6}Z$/.test(amzDate) || amzDate.slice(0, 8) !== day || !payload ||
      !names.includes('host') || !names.includes('x-amz-date') || !names.includes('x-amz-content-sha256')) {
    throw new S3Error('AuthorizationHeaderMalformed', 'The authorization header is malformed: x-amz-date, ' +
      'x-amz-content-sha256 and host must be present and signed, the date matching the scope.', {});
  }
  const skew = Math.abs(Date.parse(amzDate.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z')) - Date.now());
  if (!(skew <= 15 * 60 * 1000)) {
    throw new S3Error('RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.', {});
  }
  const [rawPath, rawQuery = ''] = ctx.req.url.split(/\?(.*)/s);
  const query = rawQuery === '' ? [] : rawQuery.split('&').map(kv => {
    const i = kv.indexOf('=');
    const dec = x => decodeURIComponent(x.replace(/\+/g, '%20'));
    return i < 0 ? [rfc3986(dec(kv)), ''] : [rfc3986(dec(kv.slice(0, i))), rfc3986(dec(kv.slice(i + 1)))];
  }).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  const canonical = [
    ctx.method,
    rawPath,
    query.map(([k, v]) => k + '=' + v).join('&'),
    names.map(n => n + ':' + String(ctx.req.headers[n] === undefined ? '' : ctx.req.headers[n]).trim().replace(/\s+/g, ' ') + '\n').join(''),
    signed,
    payload,
  ].join('\n');
  const scope = `${day}/${region}/${service}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, crypto.createHash('sha256').update(canonical, 'utf8').digest('hex')].join('\n');
  let key = hmac('AWS4' + SECRETS[keyId], day);
  for (const part of [region, service, 'aws4_request']) key = hmac(key, part);
  const want = crypto.createHmac('sha256', key).update(toSign, 'utf8').digest('hex');
  if (!crypto.timingSafeEqual(Buffer.from(want), Buffer.from(given.toLowerCase()))) {
    throw new S3Error('SignatureDoesNotMatch', 'The request signature we calculated does not match the signature ' +
      'you provided. Check your key and signing method.',
      { AWSAccessKeyId: keyId, StringToSign: toSign, CanonicalRequest: canonical });
  }
}

const log = args.log ? fs.openSync(args.log, 'a') : null;
fs.mkdirSync(args.dir, { recursive: true });
const server = new S3rver({
  address: '127.0.0.1',
  port: Number(args.port),
  directory: args.dir,
  silent: true,
  vhostBuckets: false,
  configureBuckets: [{ name: args.bucket }],
});
if (log) {
  server.middleware.unshift((ctx, next) => {
    const start = Date.now() / 1000;
    const { method, url } = ctx;
    ctx.res.once('close', () => { // "-": the connection went before the answer did
      const status = ctx.res.writableFinished ? ctx.res.statusCode : '-';
      fs.writeSync(log, `${start.toFixed(6)} ${(Date.now() / 1000).toFixed(6)} ${method} ${url} ${status}\n`);
    });
    return next();
  });
}
// after the logger and the XML encoder, before the routes
server.middleware.splice(server.middleware.length - 1, 0, (ctx, next) => {
  sigv4(ctx);
  return next();
});
server.run().then(addr => {
  if (args['port-file']) {
    fs.writeFileSync(args['port-file'] + '.tmp', addr.port + '\n');
    fs.renameSync(args['port-file'] + '.tmp', args['port-file']);
  }
  console.log(addr.port);
}, err => {
  console.error('s3rver.js: ' + err.message);
  process.exit(1);
});
setTimeout(() => process.exit(0), Number(args.lifetime) * 1000).unref();
// keep the process alive until the lifetime ends even if the server is closed
setInterval(() => {}, 1 << 30);
