// bad_input.test.mjs - every kind of bad request a pusher or a query
// client can make gets the right status code and a body that says what was
// wrong; the server keeps serving, and a trace stored before the bad
// requests is still returned intact afterwards. Also the accepted wire
// variants next to the rejected ones (gzip, deflate, zstd, chunked,
// media-type parameters), so that a rejection is known to be about the
// badness and not about the wire.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { spawnSync } from 'node:child_process';

import { startMeshlens, exitProblem, logged, binaryPath, tempDir } from './lib/meshlens.mjs';
import { request, getJson } from './lib/http.mjs';
import {
  traceRequestProto, traceRequestJson, decodeStatus, decodeExportResponse, seededBytes, hexId,
} from './lib/otlp.mjs';

const BASE_US = (Math.floor(Date.now() / 1000) - 60) * 1_000_000;
const MiB = 1024 * 1024;

function spans(n, tid, svc = 'shop') {
  const traceId = hexId(tid, 16, 'b');
  const out = [];
  for (let k = 0; k < n; k++) {
    out.push({
      traceId,
      spanId: hexId(tid * 16 + k + 1, 8, 'c'),
      parentSpanId: k ? hexId(tid * 16 + 1, 8, 'c') : undefined,
      name: `step-${k}`,
      kind: k ? 3 : 2,
      startUs: BASE_US + k * 100,
      endUs: BASE_US + k * 100 + 50,
      attrs: { 'http.status_code': 200, component: 'it', ok: true },
    });
  }
  return { traceId, spans: out, svc };
}

const PROTO = { 'Content-Type': 'application/x-protobuf' };
const JSONCT = { 'Content-Type': 'application/json' };

/** The message of an OTLP error answer, in whichever encoding it came. */
function otlpErrorMessage(r) {
  const ct = String(r.headers['content-type'] || '');
  if (ct.includes('protobuf')) return decodeStatus(r.body).message;
  if (ct.includes('json')) {
    const j = r.json();
    return String(j.message ?? JSON.stringify(j));
  }
  return r.text;
}

describe('command line', () => {
  it('refuses a bad flag value with a message naming the flag, and exits non-zero', async () => {
    const dir = await tempDir();
    const cases = [
      [['--web.max-request-bytes=lots'], /web\.max-request-bytes/],
      [['--storage.retention=forever'], /storage\.retention/],
      [['--log.level=chatty'], /log\.level/],
      [['--no.such-flag=1'], /no\.such-flag/],
    ];
    for (const [args, re] of cases) {
      const r = spawnSync(binaryPath(), [`--storage.path=${dir}`, '--web.listen-address=127.0.0.1:0', ...args], { timeout: 10_000 });
      assert.notEqual(r.status, 0, `${args}: exit status ${r.status}`);
      assert.equal(r.signal, null, `${args}: killed by ${r.signal}: ${r.stderr}`);
      assert.match(r.stderr.toString(), re, `${args}: ${r.stderr}`);
    }
  });

  it('prints its version and its flags', () => {
    const v = spawnSync(binaryPath(), ['--version'], { timeout: 10_000 });
    assert.equal(v.status, 0, String(v.stderr));
    assert.match(String(v.stdout) + String(v.stderr), /meshlens.*\d+\.\d+/i);
    const h = spawnSync(binaryPath(), ['--help'], { timeout: 10_000 });
    assert.equal(h.status, 0, String(h.stderr));
    for (const flag of ['--web.listen-address', '--storage.path', '--storage.retention', '--web.max-request-bytes', '--log.level']) {
      assert.ok((String(h.stdout) + String(h.stderr)).includes(flag), `--help lists ${flag}`);
    }
  });
});

describe('body caps set by flags', () => {
  let ml;
  const srv = () => ml;
  before(async () => {
    ml = await startMeshlens({ args: ['--web.max-request-bytes=64KiB', '--web.max-decompressed-bytes=256KiB'] });
  });
  after(async () => {
    if (!ml) return;
    const result = await ml.cleanup();
    assert.equal(exitProblem(ml, result), null);
  });

  it('applies --web.max-request-bytes and --web.max-decompressed-bytes', logged(srv, async () => {
    const t = spans(2, 30);
    const json = traceRequestJson('shop', t.spans);
    // Padding in an attribute keeps the request valid while it grows.
    json.resourceSpans[0].scopeSpans[0].spans[0].attributes.push({ key: 'pad', value: { stringValue: 'x'.repeat(60 * 1024) } });
    let r = await request(ml.url, '/v1/traces', { method: 'POST', headers: JSONCT, body: JSON.stringify(json) });
    assert.equal(r.status, 200, `just under 64 KiB: ${r.text}`);
    json.resourceSpans[0].scopeSpans[0].spans[0].attributes.push({ key: 'pad2', value: { stringValue: 'y'.repeat(8 * 1024) } });
    r = await request(ml.url, '/v1/traces', { method: 'POST', headers: JSONCT, body: JSON.stringify(json) });
    assert.equal(r.status, 413, `over 64 KiB: ${r.text}`);
    assert.match(r.text, /65536/, 'the message names the limit');
    const gz = zlib.gzipSync(Buffer.alloc(300 * 1024, 0x20));
    assert.ok(gz.length < 64 * 1024);
    r = await request(ml.url, '/v1/traces', { method: 'POST', headers: { ...JSONCT, 'Content-Encoding': 'gzip' }, body: gz });
    assert.equal(r.status, 413, `inflates past 256 KiB: ${r.text}`);
    assert.match(r.text, /262144/);
    assert.equal((await request(ml.url, '/-/healthy')).status, 200);
  }));
});

describe('bad input', () => {
  let ml;
  const srv = () => ml;
  const baseline = spans(4, 1);
  const post = (path, headers, body, extra = {}) => request(ml.url, path, { method: 'POST', headers, body, ...extra });

  async function assertBaselineIntact() {
    const health = await request(ml.url, '/-/healthy');
    assert.equal(health.status, 200, 'still healthy');
    const body = await getJson(ml.url, `/api/traces/${baseline.traceId}`);
    const got = body.data[0].spans.map((s) => `${s.spanID} ${s.operationName} ${s.startTime} ${s.duration}`).sort();
    const exp = baseline.spans.map((s) => `${s.spanId} ${s.name} ${s.startUs} ${s.endUs - s.startUs}`).sort();
    assert.deepEqual(got, exp, 'the trace stored before the bad requests');
  }

  before(async () => {
    ml = await startMeshlens();
    const r = await request(ml.url, '/v1/traces', { method: 'POST', headers: PROTO, body: traceRequestProto('shop', baseline.spans) });
    assert.equal(r.status, 200, `baseline push: ${r.text}`);
  });
  after(async () => {
    if (!ml) return;
    const result = await ml.cleanup();
    assert.equal(exitProblem(ml, result), null);
  });

  describe('OTLP protobuf', () => {
    it('rejects a truncated body with 400', logged(srv, async () => {
      const full = traceRequestProto('shop', spans(3, 2).spans);
      const r = await post('/v1/traces', PROTO, full.subarray(0, Math.floor(full.length * 0.6)));
      assert.equal(r.status, 400, r.text);
      assert.match(String(r.headers['content-type']), /application\/x-protobuf/, 'OTLP error in the request encoding');
      const st = decodeStatus(r.body);
      assert.equal(st.code, 3, 'google.rpc.Status code INVALID_ARGUMENT');
      assert.match(st.message, /protobuf|truncat|invalid|malformed|decode/i);
      assert.equal((await request(ml.url, `/api/traces/${spans(3, 2).traceId}`)).status, 404, 'nothing stored');
    }));

    it('rejects random bytes with 400', logged(srv, async () => {
      const r = await post('/v1/traces', PROTO, seededBytes(4096, 42));
      assert.equal(r.status, 400, r.text);
      assert.match(otlpErrorMessage(r), /protobuf|truncat|invalid|malformed|decode/i);
    }));

    it('rejects a span whose trace_id is 7 bytes with 400 naming the field', logged(srv, async () => {
      const bad = spans(1, 3);
      bad.spans[0].traceId = 'aabbccddeeff00';
      const r = await post('/v1/traces', PROTO, traceRequestProto('shop', bad.spans));
      assert.equal(r.status, 400, `all spans invalid: expected 400, got ${r.status} ${JSON.stringify(decodeExportResponse(r.body))}`);
      const msg = otlpErrorMessage(r);
      assert.match(msg, /trace.?id/i);
      assert.match(msg, /16 bytes|7/);
    }));

    it('stores the valid spans of a partly invalid request and reports the rest (partial success)', logged(srv, async () => {
      const mixed = spans(3, 4);
      mixed.spans[2].spanId = 'abcd'; // 2 bytes
      const r = await post('/v1/traces', PROTO, traceRequestProto('shop', mixed.spans));
      assert.equal(r.status, 200, r.text);
      const ps = decodeExportResponse(r.body);
      assert.equal(ps.rejectedSpans, 1, 'partial_success.rejected_spans');
      assert.match(ps.errorMessage, /span.?id/i);
      const body = await getJson(ml.url, `/api/traces/${mixed.traceId}`);
      assert.equal(body.data[0].spans.length, 2);
    }));
  });

  describe('OTLP JSON', () => {
    it('rejects JSON that does not parse with 400', logged(srv, async () => {
      const r = await post('/v1/traces', JSONCT, '{"resourceSpans": [');
      assert.equal(r.status, 400, r.text);
      assert.match(String(r.headers['content-type']), /json/);
      assert.match(otlpErrorMessage(r), /json|parse|syntax|unexpected|end/i);
    }));

    it('rejects JSON of the wrong shape with 400 naming the field', logged(srv, async () => {
      let r = await post('/v1/traces', JSONCT, JSON.stringify({ resourceSpans: 'nope' }));
      assert.equal(r.status, 400, r.text);
      assert.match(otlpErrorMessage(r), /resourceSpans/);
      r = await post('/v1/traces', JSONCT, JSON.stringify({ resourceSpans: [{ scopeSpans: { spans: [] } }] }));
      assert.equal(r.status, 400, r.text);
      assert.match(otlpErrorMessage(r), /scopeSpans/);
      const req = traceRequestJson('shop', spans(1, 5).spans);
      req.resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano = { when: 'now' };
      r = await post('/v1/traces', JSONCT, JSON.stringify(req));
      assert.equal(r.status, 400, r.text);
      assert.match(otlpErrorMessage(r), /startTimeUnixNano/);
      r = await post('/v1/traces', JSONCT, JSON.stringify([1, 2, 3]));
      assert.equal(r.status, 400, r.text);
      assert.match(otlpErrorMessage(r), /object|ExportTraceServiceRequest/i);
    }));

    it('rejects a traceId of the wrong length with 400 naming the field', logged(srv, async () => {
      const bad = spans(1, 6);
      bad.spans[0].traceId = '0123456789abcdef0123'; // 10 bytes
      const r = await post('/v1/traces', JSONCT, JSON.stringify(traceRequestJson('shop', bad.spans)));
      assert.equal(r.status, 400, `all spans invalid: expected 400, got ${r.status} ${r.text}`);
      assert.match(otlpErrorMessage(r), /trace.?id/i);
      const odd = spans(1, 7);
      odd.spans[0].traceId = 'zz'.repeat(16); // right length, not hex
      const r2 = await post('/v1/traces', JSONCT, JSON.stringify(traceRequestJson('shop', odd.spans)));
      assert.equal(r2.status, 400, r2.text);
      assert.match(otlpErrorMessage(r2), /trace.?id/i);
    }));

    it('reports a partly invalid JSON request as partial success', logged(srv, async () => {
      const mixed = spans(2, 8);
      mixed.spans[1].traceId = 'abc';
      const r = await post('/v1/traces', JSONCT, JSON.stringify(traceRequestJson('shop', mixed.spans)));
      assert.equal(r.status, 200, r.text);
      const ps = r.json().partialSuccess;
      assert.ok(ps, `partialSuccess missing: ${r.text}`);
      assert.equal(Number(ps.rejectedSpans), 1);
      assert.match(ps.errorMessage, /trace.?id/i);
    }));
  });

  describe('Zipkin', () => {
    const zspan = (o = {}) => ({
      traceId: '5af7183fb1d4cf5f5af7183fb1d4cf5f', id: '352bff9a74ca9ad2', name: 'get /api', kind: 'SERVER',
      timestamp: BASE_US, duration: 2000, localEndpoint: { serviceName: 'zsvc' }, ...o,
    });

    it('rejects a traceId of the wrong length with 400 naming the field', logged(srv, async () => {
      const r = await post('/api/v2/spans', JSONCT, JSON.stringify([zspan({ traceId: '5af7183fb1d4cf5f5a' })]));
      assert.equal(r.status, 400, r.text);
      assert.match(r.text, /traceId/);
      const r2 = await post('/api/v2/spans', JSONCT, JSON.stringify([zspan({ id: '352bff9a74' })]));
      assert.equal(r2.status, 400, r2.text);
      assert.match(r2.text, /\bid\b/);
    }));

    it('rejects a body that is not a span array with 400', logged(srv, async () => {
      let r = await post('/api/v2/spans', JSONCT, JSON.stringify({ traceId: 'x' }));
      assert.equal(r.status, 400, r.text);
      assert.match(r.text, /array/i);
      r = await post('/api/v2/spans', JSONCT, JSON.stringify([zspan({ timestamp: 'yesterday' })]));
      assert.equal(r.status, 400, r.text);
      assert.match(r.text, /timestamp/);
      r = await post('/api/v2/spans', JSONCT, '[{"traceId":');
      assert.equal(r.status, 400, r.text);
    }));

    it('stores the valid spans of a partly invalid request and names the bad one', logged(srv, async () => {
      const good = zspan({ traceId: '00000000000000000000000000abc123', id: '00000000000000a1' });
      const bad = zspan({ traceId: '00000000000000000000000000abc123', id: 'zz' });
      const r = await post('/api/v2/spans', JSONCT, JSON.stringify([good, bad]));
      assert.equal(r.status, 400, r.text);
      assert.match(r.text, /\bid\b/);
      assert.match(r.text, /1/, 'which span');
      const got = await getJson(ml.url, '/api/v2/trace/00000000000000000000000000abc123');
      assert.deepEqual(got.map((s) => s.id), ['00000000000000a1']);
    }));
  });

  describe('transport', () => {
    it('answers 415 to an unknown Content-Type, naming it', logged(srv, async () => {
      let r = await post('/v1/traces', { 'Content-Type': 'text/plain' }, 'hello');
      assert.equal(r.status, 415, r.text);
      assert.match(r.text, /Content-Type/i);
      assert.match(r.text, /text\/plain/);
      r = await post('/api/v2/spans', { 'Content-Type': 'text/plain' }, '[]');
      assert.equal(r.status, 415, r.text);
      assert.match(r.text, /text\/plain/);
    }));

    it('answers 415 to an unknown Content-Encoding, naming it', logged(srv, async () => {
      const body = traceRequestProto('shop', spans(1, 9).spans);
      const r = await post('/v1/traces', { ...PROTO, 'Content-Encoding': 'br' }, body);
      assert.equal(r.status, 415, r.text);
      assert.match(r.text + otlpErrorMessage(r), /Content-Encoding/i);
      assert.match(r.text + otlpErrorMessage(r), /\bbr\b/);
    }));

    it('answers 400 to a corrupt gzip body', logged(srv, async () => {
      const gz = zlib.gzipSync(JSON.stringify(traceRequestJson('shop', spans(2, 10).spans)));
      const corrupt = Buffer.from(gz);
      for (let i = 12; i < corrupt.length - 8; i += 7) corrupt[i] ^= 0x5a;
      let r = await post('/v1/traces', { ...JSONCT, 'Content-Encoding': 'gzip' }, corrupt);
      assert.equal(r.status, 400, r.text);
      assert.match(r.text + otlpErrorMessage(r), /gzip/i);
      r = await post('/v1/traces', { ...JSONCT, 'Content-Encoding': 'gzip' }, gz.subarray(0, gz.length - 20));
      assert.equal(r.status, 400, `truncated gzip: ${r.text}`);
      assert.match(r.text, /gzip/i);
      r = await post('/v1/traces', { ...JSONCT, 'Content-Encoding': 'gzip' }, Buffer.from('this is not gzip at all'));
      assert.equal(r.status, 400, r.text);
      assert.match(r.text, /gzip/i);
      assert.equal((await request(ml.url, `/api/traces/${spans(2, 10).traceId}`)).status, 404, 'nothing stored');
    }));

    it('answers 413 to a gzip bomb (a small body inflating past 64 MiB)', logged(srv, async () => {
      const bomb = zlib.gzipSync(Buffer.alloc(65 * MiB, 0x20), { level: 9 });
      assert.ok(bomb.length < MiB);
      const r = await post('/v1/traces', { ...JSONCT, 'Content-Encoding': 'gzip' }, bomb);
      assert.equal(r.status, 413, r.text);
      assert.match(r.text, /decompressed|limit/i);
    }));

    it('answers 413 to a body over 16 MiB, with Content-Length and chunked', logged(srv, async () => {
      const big = Buffer.alloc(16 * MiB + 1, 0x20);
      let r = await post('/v1/traces', JSONCT, big);
      assert.equal(r.status, 413, r.text);
      assert.match(r.text, /limit|exceeds|too large/i);
      const chunks = [];
      for (let i = 0; i < 17; i++) chunks.push(Buffer.alloc(MiB, 0x20));
      r = await request(ml.url, '/api/v2/spans', { method: 'POST', headers: JSONCT, chunks });
      assert.equal(r.status, 413, r.text);
      assert.match(r.text, /limit|exceeds|too large/i);
    }));

    it('answers 404 to an unknown path, naming it', logged(srv, async () => {
      let r = await request(ml.url, '/v1/tracez');
      assert.equal(r.status, 404, r.text);
      assert.match(r.text, /\/v1\/tracez/);
      r = await post('/api/v3/spans', JSONCT, '[]');
      assert.equal(r.status, 404, r.text);
    }));

    it('answers 405 with Allow to a wrong method', logged(srv, async () => {
      let r = await request(ml.url, '/v1/traces');
      assert.equal(r.status, 405, r.text);
      assert.equal(r.headers.allow, 'POST');
      assert.match(r.text, /GET/);
      r = await request(ml.url, '/api/v2/spans', { method: 'PUT', headers: JSONCT, body: '[]' });
      assert.equal(r.status, 405, r.text);
      assert.deepEqual(String(r.headers.allow).split(/,\s*/).sort(), ['GET', 'POST']);
      r = await request(ml.url, '/api/services', { method: 'DELETE' });
      assert.equal(r.status, 405, r.text);
      assert.match(String(r.headers.allow), /GET/);
    }));

    it('accepts the same request as gzip, deflate, zstd, chunked and with media-type parameters', logged(srv, async () => {
      const variants = [];
      const mk = (tid) => spans(2, tid);
      let t = mk(20);
      variants.push([t, await post('/v1/traces', { ...PROTO, 'Content-Encoding': 'gzip' }, zlib.gzipSync(traceRequestProto('shop', t.spans))), 'gzip']);
      t = mk(21);
      variants.push([t, await post('/v1/traces', { ...JSONCT, 'Content-Encoding': 'deflate' }, zlib.deflateSync(JSON.stringify(traceRequestJson('shop', t.spans)))), 'deflate']);
      t = mk(22);
      const proto = traceRequestProto('shop', t.spans);
      variants.push([t, await request(ml.url, '/v1/traces', { method: 'POST', headers: PROTO, chunks: [proto.subarray(0, 5), proto.subarray(5, 40), proto.subarray(40)] }), 'chunked']);
      t = mk(23);
      variants.push([t, await post('/v1/traces', { 'Content-Type': 'application/json; charset=utf-8' }, JSON.stringify(traceRequestJson('shop', t.spans))), 'charset']);
      t = mk(24);
      const zs = spawnSync('zstd', ['-q', '-c'], { input: Buffer.from(JSON.stringify(traceRequestJson('shop', t.spans))) });
      if (zs.status === 0) {
        variants.push([t, await post('/v1/traces', { ...JSONCT, 'Content-Encoding': 'zstd' }, zs.stdout), 'zstd']);
      }
      for (const [tr, r, what] of variants) {
        assert.equal(r.status, 200, `${what}: ${r.text}`);
        const body = await getJson(ml.url, `/api/traces/${tr.traceId}`);
        assert.equal(body.data[0].spans.length, 2, what);
      }
      // The answer comes in the request's encoding: JSON for JSON, protobuf for protobuf.
      assert.match(String(variants[0][1].headers['content-type']), /application\/x-protobuf/);
      assert.deepEqual(decodeExportResponse(variants[0][1].body), { rejectedSpans: 0, errorMessage: '' });
      assert.match(String(variants[1][1].headers['content-type']), /application\/json/);
      assert.equal(variants[1][1].json().partialSuccess?.rejectedSpans ?? 0, 0);
    }));
  });

  describe('query parameters', () => {
    it('answers 400 to malformed trace ids and parameters, naming them', logged(srv, async () => {
      const cases = [
        ['/api/traces/not-a-hex-id', /trace.?id/i],
        [`/api/traces/${'a'.repeat(33)}`, /trace.?id|32/i],
        ['/api/v2/trace/xyz', /trace.?id/i],
        [`/api/v2/trace/${'f'.repeat(40)}`, /trace.?id|32/i],
        ['/api/traces?service=shop&limit=ten', /limit/],
        ['/api/traces?service=shop&tags=%7Bnot%20json', /tags/],
        ['/api/traces?service=shop&minDuration=fast', /minDuration/],
        ['/api/v2/traces?serviceName=shop&endTs=yesterday', /endTs/],
        ['/api/v2/traceMany?traceIds=abc,nothex!', /trace.?id/i],
        ['/api/dependencies?endTs=soon', /endTs/],
      ];
      for (const [path, re] of cases) {
        const r = await request(ml.url, path);
        assert.equal(r.status, 400, `${path}: ${r.text}`);
        assert.match(r.text, re, path);
      }
    }));
  });

  it('still serves, and the earlier trace is intact', logged(srv, async () => {
    await assertBaselineIntact();
    assert.equal(ml.exit, null, 'the process is still running');
  }));
});
