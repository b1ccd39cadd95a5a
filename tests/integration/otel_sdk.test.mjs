// otel_sdk.test.mjs - the OpenTelemetry JS SDK's own exporters push a
// two-service trace into meshlens, and the trace is read back through the
// Jaeger and Zipkin query APIs with every field checked.
//
// The trace (times in µs after a base two minutes ago, whole µs so that
// OTLP's nanoseconds and the query APIs' microseconds agree exactly):
//
//   frontend  GET /checkout        SERVER  0 .. 100123  event, all attribute types
//   frontend  POST backend/charge  CLIENT  10007 .. 90011  link to another trace
//   backend   POST /charge         SERVER  15250 .. 85249  status ERROR, exception event
//   backend   SELECT payments      CLIENT  20001 .. 50002  db attributes
//
// Each exporter (OTLP protobuf, OTLP protobuf gzip, OTLP JSON, Zipkin)
// sends its own copy under its own trace id through the SDK's
// BatchSpanProcessor, one batch per service (so every trace arrives in two
// requests). The OTLP exporters send chunked bodies, as they do in
// production.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { trace, context, SpanKind, SpanStatusCode, ROOT_CONTEXT } from '@opentelemetry/api';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import { OTLPTraceExporter as OTLPProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as OTLPJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { ZipkinExporter } from '@opentelemetry/exporter-zipkin';

import { startMeshlens, exitProblem, logged } from './lib/meshlens.mjs';
import { getJson, request, qs } from './lib/http.mjs';

// A base time two minutes ago in whole seconds, as µs.
const BASE_US = (Math.floor(Date.now() / 1000) - 120) * 1_000_000;
const usToHr = (us) => [Math.floor(us / 1_000_000), (us % 1_000_000) * 1000];

const LINK_TRACE = '11111111111111111111111111111111';
const LINK_SPAN = '2222222222222222';

// The four spans, by role. off/end in µs after BASE_US.
const SPANS = {
  root: {
    service: 'frontend', name: 'GET /checkout', kind: 'SERVER', off: 0, end: 100_123,
    attrs: {
      'http.method': 'GET',
      'http.route': '/checkout',
      'http.status_code': 200,
      'app.ratio': 0.25,
      'app.cache_hit': true,
      'app.big': 1234567890123,
      'app.negative': -42,
      'app.tags': ['alpha', 'beta'],
    },
    events: [{ name: 'request.received', off: 1_000, attrs: { 'queue.depth': 3 } }],
    status: { code: 'OK' },
  },
  client: {
    service: 'frontend', name: 'POST backend/charge', kind: 'CLIENT', off: 10_007, end: 90_011, parent: 'root',
    attrs: { 'peer.service': 'backend', 'http.url': 'http://backend:8080/charge', 'http.method': 'POST' },
    events: [],
    link: true,
  },
  server: {
    service: 'backend', name: 'POST /charge', kind: 'SERVER', off: 15_250, end: 85_249, parent: 'client',
    attrs: { 'http.method': 'POST', 'http.status_code': 402 },
    events: [{ name: 'exception', off: 84_000, attrs: { 'exception.type': 'PaymentError', 'exception.message': 'card declined' } }],
    status: { code: 'ERROR', message: 'card declined' },
  },
  db: {
    service: 'backend', name: 'SELECT payments', kind: 'CLIENT', off: 20_001, end: 50_002, parent: 'server',
    attrs: { 'db.system': 'postgresql', 'db.statement': 'SELECT * FROM payments WHERE id = $1', 'peer.service': 'db' },
    events: [],
  },
};
const ORDER = ['root', 'client', 'server', 'db'];
const RESOURCE_ATTRS = {
  frontend: { 'service.version': '1.4.2', 'deployment.environment': 'it', 'k8s.pod.name': 'frontend-7d9f' },
  backend: { 'service.version': '2.0.0', 'deployment.environment': 'it', 'k8s.pod.name': 'backend-55c1' },
};
const SCOPE = { name: 'meshlens-it', version: '0.3.1' };

/** Deterministic ids: trace id and span ids derived from the run number. */
class FixedIds {
  constructor(run) {
    this.traceId = `5eed${run.toString(16).padStart(2, '0')}00000000000000000000000000`.slice(0, 28) +
      `a0b${run.toString(16)}`;
    this.n = 0;
    this.run = run;
  }
  generateTraceId() {
    return this.traceId;
  }
  generateSpanId() {
    this.n++;
    return `b0${this.run.toString(16).padStart(2, '0')}0000000000${this.n.toString(16).padStart(2, '0')}`;
  }
}

/** Wraps an exporter to record every ExportResult the SDK got back. */
class RecordingExporter {
  constructor(inner) {
    this.inner = inner;
    this.results = [];
  }
  export(spans, cb) {
    this.inner.export(spans, (r) => {
      this.results.push({ code: r.code, error: r.error ? String(r.error.message || r.error) : undefined, n: spans.length });
      cb(r);
    });
  }
  shutdown() {
    return this.inner.shutdown();
  }
  forceFlush() {
    return this.inner.forceFlush ? this.inner.forceFlush() : Promise.resolve();
  }
}

/**
 * Creates the trace with the SDK and exports it through makeExporter().
 * Returns {traceId, ids: {role: spanId}, results: [ExportResult]}.
 */
async function sendTrace(run, makeExporter) {
  const ids = new FixedIds(run);
  const providers = {};
  const recorders = [];
  for (const service of ['frontend', 'backend']) {
    const rec = new RecordingExporter(makeExporter());
    recorders.push(rec);
    providers[service] = new BasicTracerProvider({
      resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: service, ...RESOURCE_ATTRS[service] }),
      idGenerator: ids,
      spanProcessors: [new BatchSpanProcessor(rec, { scheduledDelayMillis: 60_000, maxExportBatchSize: 512 })],
    });
  }
  const made = {};
  const spanIds = {};
  for (const role of ORDER) {
    const s = SPANS[role];
    const tracer = providers[s.service].getTracer(SCOPE.name, SCOPE.version);
    let ctx = ROOT_CONTEXT;
    if (s.parent) {
      const parent = made[s.parent];
      // Across services the parent arrives as a remote context, as over HTTP.
      ctx = SPANS[s.parent].service === s.service
        ? trace.setSpan(ROOT_CONTEXT, parent)
        : trace.setSpanContext(ROOT_CONTEXT, { ...parent.spanContext(), isRemote: true });
    }
    const span = tracer.startSpan(
      s.name,
      {
        kind: SpanKind[s.kind],
        startTime: usToHr(BASE_US + s.off),
        attributes: s.attrs,
        links: s.link ? [{ context: { traceId: LINK_TRACE, spanId: LINK_SPAN, traceFlags: 1 }, attributes: { 'link.reason': 'retry-of' } }] : [],
      },
      ctx,
    );
    for (const e of s.events) span.addEvent(e.name, e.attrs, usToHr(BASE_US + e.off));
    if (s.status) span.setStatus({ code: SpanStatusCode[s.status.code], message: s.status.message });
    made[role] = span;
    spanIds[role] = span.spanContext().spanId;
  }
  // End children first, as a real program does.
  for (const role of [...ORDER].reverse()) made[role].end(usToHr(BASE_US + SPANS[role].end));
  for (const p of Object.values(providers)) {
    await p.forceFlush();
    await p.shutdown();
  }
  void context;
  return { traceId: ids.traceId, ids: spanIds, results: recorders.flatMap((r) => r.results) };
}

const RUNS = [
  { run: 1, label: 'OTLP protobuf', otlp: true, make: (url) => new OTLPProtoExporter({ url: `${url}/v1/traces` }) },
  { run: 2, label: 'OTLP protobuf, gzip', otlp: true, make: (url) => new OTLPProtoExporter({ url: `${url}/v1/traces`, compression: 'gzip' }) },
  { run: 3, label: 'OTLP JSON', otlp: true, make: (url) => new OTLPJsonExporter({ url: `${url}/v1/traces` }) },
  { run: 4, label: 'Zipkin', otlp: false, make: (url) => new ZipkinExporter({ url: `${url}/api/v2/spans` }) },
];

// ---- Jaeger checks ----

function jaegerTag(span, key) {
  return (span.tags || []).find((t) => t.key === key);
}

/** The Jaeger (type, value) an attribute should read back as. */
function jaegerTyped(v, typed) {
  if (!typed) return { type: 'string', value: String(v) };
  if (typeof v === 'boolean') return { type: 'bool', value: v };
  if (typeof v === 'number') return Number.isInteger(v) ? { type: 'int64', value: v } : { type: 'float64', value: v };
  return { type: 'string', value: v };
}

function checkJaegerTrace(tr, sent, runInfo) {
  const where = `${runInfo.label} trace ${sent.traceId}`;
  assert.equal(tr.traceID, sent.traceId, `${where}: traceID`);
  assert.equal(tr.spans.length, 4, `${where}: span count (${tr.spans.map((s) => s.operationName)})`);
  const byId = new Map(tr.spans.map((s) => [s.spanID, s]));
  for (const role of ORDER) {
    const exp = SPANS[role];
    const s = byId.get(sent.ids[role]);
    const w = `${where} span ${role} (${exp.name})`;
    assert.ok(s, `${w}: missing; got span ids ${[...byId.keys()]}`);
    assert.equal(s.traceID, sent.traceId, `${w}: traceID`);
    assert.equal(s.operationName, exp.name, `${w}: operationName`);
    assert.equal(s.startTime, BASE_US + exp.off, `${w}: startTime (µs)`);
    assert.equal(s.duration, exp.end - exp.off, `${w}: duration (µs)`);
    assert.ok(Number.isInteger(s.startTime) && Number.isInteger(s.duration), `${w}: times must be integers`);
    // Process: service name and resource attributes.
    const proc = tr.processes[s.processID];
    assert.ok(proc, `${w}: processes[${s.processID}] missing`);
    assert.equal(proc.serviceName, exp.service, `${w}: process serviceName`);
    if (runInfo.otlp) {
      for (const [k, v] of Object.entries(RESOURCE_ATTRS[exp.service])) {
        const t = (proc.tags || []).find((x) => x.key === k);
        assert.deepEqual(t && { type: t.type, value: t.value }, { type: 'string', value: v }, `${w}: process tag ${k}`);
      }
    }
    // References: parent first as CHILD_OF; the link as FOLLOWS_FROM.
    const refs = s.references || [];
    const childOf = refs.filter((r) => r.refType === 'CHILD_OF');
    if (exp.parent) {
      assert.ok(childOf.length >= 1, `${w}: no CHILD_OF reference`);
      assert.deepEqual(
        { traceID: childOf[0].traceID, spanID: childOf[0].spanID },
        { traceID: sent.traceId, spanID: sent.ids[exp.parent] },
        `${w}: parent reference`,
      );
    } else {
      assert.equal(childOf.length, 0, `${w}: a root span has no CHILD_OF reference`);
    }
    if (exp.link && runInfo.otlp) {
      const ff = refs.find((r) => r.refType === 'FOLLOWS_FROM');
      assert.ok(ff, `${w}: the link should read back as a FOLLOWS_FROM reference: ${JSON.stringify(refs)}`);
      assert.equal(ff.traceID, LINK_TRACE, `${w}: link traceID`);
      assert.equal(ff.spanID, LINK_SPAN, `${w}: link spanID`);
    }
    // Kind.
    const kindTag = jaegerTag(s, 'span.kind');
    assert.ok(kindTag, `${w}: span.kind tag missing`);
    assert.equal(kindTag.value, exp.kind.toLowerCase(), `${w}: span.kind`);
    // Attributes with their types.
    for (const [k, v] of Object.entries(exp.attrs)) {
      const t = jaegerTag(s, k);
      assert.ok(t, `${w}: tag ${k} missing; tags: ${JSON.stringify(s.tags)}`);
      if (Array.isArray(v)) {
        assert.equal(t.type, 'string', `${w}: array attribute ${k} reads as a string`);
        for (const item of v) assert.ok(String(t.value).includes(item), `${w}: tag ${k}=${t.value} lacks ${item}`);
      } else {
        assert.deepEqual({ type: t.type, value: t.value }, jaegerTyped(v, runInfo.otlp), `${w}: tag ${k}`);
      }
    }
    // Status.
    if (exp.status?.code === 'ERROR') {
      const e = jaegerTag(s, 'error');
      assert.ok(e, `${w}: an ERROR span needs the error tag`);
      if (runInfo.otlp) {
        assert.deepEqual({ type: e.type, value: e.value }, { type: 'bool', value: true }, `${w}: error tag`);
        assert.equal(jaegerTag(s, 'otel.status_code')?.value, 'ERROR', `${w}: otel.status_code`);
        assert.equal(jaegerTag(s, 'otel.status_description')?.value, 'card declined', `${w}: otel.status_description`);
      }
    } else {
      const e = jaegerTag(s, 'error');
      assert.ok(!e || e.value === false || e.value === 'false', `${w}: unexpected error tag ${JSON.stringify(e)}`);
    }
    if (exp.status?.code === 'OK' && runInfo.otlp) {
      assert.equal(jaegerTag(s, 'otel.status_code')?.value, 'OK', `${w}: otel.status_code`);
    }
    if (runInfo.otlp) {
      assert.equal(jaegerTag(s, 'otel.scope.name')?.value, SCOPE.name, `${w}: otel.scope.name`);
      assert.equal(jaegerTag(s, 'otel.scope.version')?.value, SCOPE.version, `${w}: otel.scope.version`);
    }
    // Events as logs.
    const logs = s.logs || [];
    assert.equal(logs.length, exp.events.length, `${w}: log count ${JSON.stringify(logs)}`);
    for (const e of exp.events) {
      const log = logs.find((l) => l.timestamp === BASE_US + e.off);
      assert.ok(log, `${w}: no log at ${BASE_US + e.off}: ${JSON.stringify(logs)}`);
      assert.ok(log.fields.some((f) => f.value === e.name), `${w}: log lacks the event name ${e.name}: ${JSON.stringify(log)}`);
      if (runInfo.otlp) {
        assert.deepEqual(log.fields.find((f) => f.key === 'event'), { key: 'event', type: 'string', value: e.name }, `${w}: log event field`);
        for (const [k, v] of Object.entries(e.attrs)) {
          const f = log.fields.find((x) => x.key === k);
          assert.deepEqual(f && { type: f.type, value: f.value }, jaegerTyped(v, true), `${w}: log field ${k}`);
        }
      }
    }
  }
}

// ---- Zipkin checks ----

function checkZipkinTrace(spans, sent, runInfo) {
  const where = `${runInfo.label} trace ${sent.traceId} (Zipkin API)`;
  assert.ok(Array.isArray(spans), `${where}: not an array`);
  assert.equal(spans.length, 4, `${where}: span count`);
  for (const role of ORDER) {
    const exp = SPANS[role];
    const s = spans.find((x) => x.id === sent.ids[role]);
    const w = `${where} span ${role}`;
    assert.ok(s, `${w}: missing`);
    assert.equal(s.traceId, sent.traceId, `${w}: traceId`);
    assert.equal(s.parentId, exp.parent ? sent.ids[exp.parent] : undefined, `${w}: parentId`);
    // Zipkin's own server lowercases span and service names; either is fine.
    assert.equal(s.name.toLowerCase(), exp.name.toLowerCase(), `${w}: name`);
    assert.equal(s.kind, exp.kind, `${w}: kind`);
    assert.equal(s.timestamp, BASE_US + exp.off, `${w}: timestamp`);
    assert.equal(s.duration, exp.end - exp.off, `${w}: duration`);
    assert.equal(s.localEndpoint?.serviceName, exp.service, `${w}: localEndpoint.serviceName`);
    for (const [k, v] of Object.entries(exp.attrs)) {
      assert.equal(typeof s.tags?.[k], 'string', `${w}: tag ${k} must be a string: ${JSON.stringify(s.tags)}`);
      if (Array.isArray(v)) for (const item of v) assert.ok(s.tags[k].includes(item), `${w}: tag ${k}`);
      else assert.equal(s.tags[k], String(v), `${w}: tag ${k}`);
    }
    if (exp.status?.code === 'ERROR') {
      assert.ok(s.tags?.error, `${w}: an ERROR span needs the error tag: ${JSON.stringify(s.tags)}`);
      assert.equal(s.tags['otel.status_code'], 'ERROR', `${w}: otel.status_code`);
    } else {
      assert.equal(s.tags?.error, undefined, `${w}: no error tag expected`);
    }
    const ann = s.annotations || [];
    assert.equal(ann.length, exp.events.length, `${w}: annotations ${JSON.stringify(ann)}`);
    for (const e of exp.events) {
      const a = ann.find((x) => x.timestamp === BASE_US + e.off);
      assert.ok(a && a.value.includes(e.name), `${w}: annotation ${e.name} at ${BASE_US + e.off}: ${JSON.stringify(ann)}`);
    }
  }
}

describe('OpenTelemetry JS SDK exporters into meshlens', () => {
  let ml;
  const sent = new Map(); // run -> {traceId, ids}
  const srv = () => ml;

  before(async () => {
    ml = await startMeshlens();
  });
  after(async () => {
    if (!ml) return;
    const result = await ml.cleanup();
    assert.equal(exitProblem(ml, result), null);
  });

  for (const r of RUNS) {
    it(`exports through the ${r.label} exporter`, logged(srv, async () => {
      const out = await sendTrace(r.run, () => r.make(ml.url));
      assert.ok(out.results.length >= 2, `${r.label}: expected one export per service, got ${JSON.stringify(out.results)}`);
      for (const res of out.results) assert.equal(res.code, 0, `${r.label}: export failed: ${JSON.stringify(res)}`);
      sent.set(r.run, out);
    }));
  }

  for (const r of RUNS) {
    it(`reads the ${r.label} trace back through /api/traces/{id}`, logged(srv, async () => {
      const s = sent.get(r.run);
      assert.ok(s, 'the export step failed');
      const body = await getJson(ml.url, `/api/traces/${s.traceId}`);
      assert.equal(body.data.length, 1, 'one trace');
      checkJaegerTrace(body.data[0], s, r);
    }));

    it(`reads the ${r.label} trace back through /api/v2/trace/{id}`, logged(srv, async () => {
      const s = sent.get(r.run);
      assert.ok(s, 'the export step failed');
      checkZipkinTrace(await getJson(ml.url, `/api/v2/trace/${s.traceId}`), s, r);
    }));
  }

  it('lists services and operations (Jaeger)', logged(srv, async () => {
    const services = await getJson(ml.url, '/api/services');
    assert.deepEqual([...services.data].sort(), ['backend', 'frontend']);
    const ops = await getJson(ml.url, '/api/services/backend/operations');
    assert.deepEqual([...ops.data].sort(), ['POST /charge', 'SELECT payments']);
    const server = await getJson(ml.url, `/api/operations${qs({ service: 'backend', spanKind: 'server' })}`);
    assert.deepEqual(server.data, [{ name: 'POST /charge', spanKind: 'server' }]);
    const all = await getJson(ml.url, `/api/operations${qs({ service: 'frontend' })}`);
    assert.deepEqual(
      [...all.data].sort((a, b) => a.name.localeCompare(b.name)),
      [{ name: 'GET /checkout', spanKind: 'server' }, { name: 'POST backend/charge', spanKind: 'client' }],
    );
  }));

  const allIds = () => [...sent.values()].map((s) => s.traceId).sort();
  const window = { start: BASE_US - 60_000_000, end: BASE_US + 60_000_000 };
  const found = (body) => body.data.map((t) => t.traceID).sort();

  it('finds the traces by service and operation (Jaeger search)', logged(srv, async () => {
    assert.equal(sent.size, RUNS.length, 'every export succeeded');
    let body = await getJson(ml.url, `/api/traces${qs({ service: 'backend', ...window, limit: 20 })}`);
    assert.deepEqual(found(body), allIds());
    for (const t of body.data) assert.equal(t.spans.length, 4, 'search returns whole traces');
    body = await getJson(ml.url, `/api/traces${qs({ service: 'frontend', operation: 'GET /checkout', ...window, limit: 20 })}`);
    assert.deepEqual(found(body), allIds());
    body = await getJson(ml.url, `/api/traces${qs({ service: 'frontend', operation: 'no such op', ...window, limit: 20 })}`);
    assert.deepEqual(body.data, []);
    // Without start/end the default look-back (at least an hour) covers them.
    body = await getJson(ml.url, `/api/traces${qs({ service: 'backend', limit: 20 })}`);
    assert.deepEqual(found(body), allIds());
    // A window that ends before the traces finds nothing.
    body = await getJson(ml.url, `/api/traces${qs({ service: 'backend', start: BASE_US - 7_200_000_000, end: BASE_US - 3_600_000_000 })}`);
    assert.deepEqual(body.data, []);
    body = await getJson(ml.url, `/api/traces${qs({ service: 'backend', ...window, limit: 2 })}`);
    assert.equal(body.data.length, 2, 'limit=2');
  }));

  it('finds the traces by tag and duration (Jaeger search)', logged(srv, async () => {
    const q = (p) => getJson(ml.url, `/api/traces${qs({ service: 'backend', ...window, limit: 20, ...p })}`);
    assert.deepEqual(found(await q({ tags: JSON.stringify({ 'http.status_code': '402' }) })), allIds(), 'int attribute as tag');
    assert.deepEqual(found(await q({ tags: JSON.stringify({ 'http.status_code': '403' }) })), []);
    assert.deepEqual(found(await q({ tags: JSON.stringify({ 'db.system': 'postgresql' }) })), allIds(), 'string attribute');
    assert.deepEqual(found(await q({ tags: JSON.stringify({ error: 'true' }) })), allIds(), 'error=true');
    assert.deepEqual(
      found(await q({ tags: JSON.stringify({ 'db.system': 'postgresql', 'peer.service': 'db' }) })),
      allIds(),
      'two tags of one span',
    );
    // As in Jaeger, all tags of a query must match on one span.
    assert.deepEqual(found(await q({ tags: JSON.stringify({ 'db.system': 'postgresql', 'http.status_code': '402' }) })), []);
    assert.deepEqual(found(await q({ tags: JSON.stringify({ 'db.system': 'mysql', 'http.status_code': '402' }) })), []);
    const fq = (p) => getJson(ml.url, `/api/traces${qs({ service: 'frontend', ...window, limit: 20, ...p })}`);
    assert.deepEqual(found(await fq({ tags: JSON.stringify({ 'app.cache_hit': 'true' }) })), allIds(), 'bool attribute');
    // Durations: POST /charge lasts 69.999 ms.
    const op = { operation: 'POST /charge' };
    assert.deepEqual(found(await q({ ...op, minDuration: '60ms', maxDuration: '80ms' })), allIds());
    assert.deepEqual(found(await q({ ...op, minDuration: '69999us' })), allIds(), 'minDuration is inclusive');
    assert.deepEqual(found(await q({ ...op, minDuration: '70ms' })), []);
    assert.deepEqual(found(await q({ ...op, maxDuration: '69ms' })), []);
    assert.deepEqual(found(await q({ ...op, maxDuration: '0.1s' })), allIds());
  }));

  it('lists services and span names and finds traces (Zipkin API)', logged(srv, async () => {
    assert.deepEqual((await getJson(ml.url, '/api/v2/services')).sort(), ['backend', 'frontend']);
    const names = await getJson(ml.url, `/api/v2/spans${qs({ serviceName: 'backend' })}`);
    assert.deepEqual(names.map((n) => n.toLowerCase()).sort(), ['post /charge', 'select payments']);
    // A span name as this API lists it finds its traces (Zipkin itself lowercases names).
    const charge = names.find((n) => n.toLowerCase() === 'post /charge');
    const ids = (traces) => traces.map((t) => t[0].traceId).sort();
    // Grafana's Zipkin data source sends no time range.
    let traces = await getJson(ml.url, `/api/v2/traces${qs({ serviceName: 'backend' })}`);
    assert.deepEqual(ids(traces), allIds());
    for (const t of traces) assert.equal(t.length, 4, 'whole traces');
    traces = await getJson(ml.url, `/api/v2/traces${qs({ serviceName: 'backend', spanName: charge })}`);
    assert.deepEqual(ids(traces), allIds());
    traces = await getJson(ml.url, `/api/v2/traces${qs({ serviceName: 'backend', annotationQuery: 'db.system=postgresql' })}`);
    assert.deepEqual(ids(traces), allIds());
    traces = await getJson(ml.url, `/api/v2/traces${qs({ serviceName: 'backend', annotationQuery: 'db.system=mysql' })}`);
    assert.deepEqual(traces, []);
    traces = await getJson(ml.url, `/api/v2/traces${qs({ serviceName: 'backend', minDuration: 69_999, maxDuration: 70_000, spanName: charge })}`);
    assert.deepEqual(ids(traces), allIds());
    traces = await getJson(ml.url, `/api/v2/traces${qs({ serviceName: 'backend', minDuration: 70_001, spanName: charge })}`);
    assert.deepEqual(traces, []);
    traces = await getJson(ml.url, `/api/v2/traces${qs({ serviceName: 'backend', endTs: Math.floor(BASE_US / 1000) - 3_600_000, lookback: 3_600_000 })}`);
    assert.deepEqual(traces, [], 'a window ending an hour before the traces');
    const many = await getJson(ml.url, `/api/v2/traceMany${qs({ traceIds: `${sent.get(1).traceId},${sent.get(4).traceId}` })}`);
    assert.deepEqual(ids(many), [sent.get(1).traceId, sent.get(4).traceId].sort());
  }));

  it('answers 404 for a trace id it does not have', logged(srv, async () => {
    const id = 'fedcba9876543210fedcba9876543210';
    const j = await request(ml.url, `/api/traces/${id}`);
    assert.equal(j.status, 404, j.text);
    const z = await request(ml.url, `/api/v2/trace/${id}`);
    assert.equal(z.status, 404, z.text);
  }));
});
