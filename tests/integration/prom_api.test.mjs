// prom_api.test.mjs - every route of meshlens's Prometheus HTTP API, end to
// end on the real binary: known series are imported with
// /api/v1/import/prometheus (fixed timestamps, so every value and timestamp
// in an answer is known), then each route is asked by GET and by POST form
// body and its JSON compared whole; then every error path (bad query, bad
// time, end before start, bad or zero step, the 11,000-point limit, bad
// match[], bad label name, timeout=, --query.max-samples,
// --query.max-concurrency, wrong method) with the status and the exact text
// Prometheus 2.42 answers. When a Prometheus binary is installed the same
// bad requests are also sent to a real Prometheus and the two answers must
// be identical, so the expected texts below cannot drift from Prometheus's.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startMeshlens, exitProblem, logged } from './lib/meshlens.mjs';
import { request } from './lib/http.mjs';
import { prometheusPath, startPrometheus } from './lib/prometheus.mjs';

// The data: one hour at 15 s from T0 (a fixed time, kept by a long retention).
const T0 = 1700000000;
const STEPS = 240; // samples 0..240 -> T0 .. T0 + 3600
const T_END = T0 + STEPS * 15;
const RETENTION = '--storage.retention=10000d';
// qf_requests_total{code, instance, job="api"} grows by RATE per 15 s sample.
const RATES = [
  { code: '200', instance: 'a', k: 10 },
  { code: '200', instance: 'b', k: 20 },
  { code: '500', instance: 'a', k: 1 },
  { code: '500', instance: 'b', k: 2 },
];
const BUCKETS = [
  { le: '0.1', k: 6 },
  { le: '0.5', k: 9 },
  { le: '+Inf', k: 10 },
];

/** The exposition text of the data set (timestamps in ms). */
function dataText() {
  const out = [
    '# HELP qf_requests_total Requests served.',
    '# TYPE qf_requests_total counter',
  ];
  for (let i = 0; i <= STEPS; i++) {
    const ts = (T0 + i * 15) * 1000;
    for (const r of RATES) {
      out.push(`qf_requests_total{code="${r.code}",instance="${r.instance}",job="api"} ${i * r.k} ${ts}`);
    }
  }
  out.push('# HELP qf_temperature_celsius Room temperature.', '# TYPE qf_temperature_celsius gauge');
  for (let i = 0; i <= STEPS; i++) {
    out.push(`qf_temperature_celsius{job="env",room="lab"} ${20 + (i % 4) * 0.5} ${(T0 + i * 15) * 1000}`);
  }
  out.push('# HELP qf_latency_seconds Request latency.', '# TYPE qf_latency_seconds histogram');
  for (let i = 0; i <= STEPS; i++) {
    const ts = (T0 + i * 15) * 1000;
    for (const b of BUCKETS) out.push(`qf_latency_seconds_bucket{job="api",le="${b.le}"} ${i * b.k} ${ts}`);
    out.push(`qf_latency_seconds_sum{job="api"} ${i * 2} ${ts}`);
    out.push(`qf_latency_seconds_count{job="api"} ${i * 10} ${ts}`);
  }
  return out.join('\n') + '\n';
}

async function importData(url) {
  const r = await request(url, '/api/v1/import/prometheus', {
    method: 'POST',
    headers: { 'Content-Type': 'text/plain; version=0.0.4' },
    body: dataText(),
  });
  assert.equal(r.status, 204, `import: ${r.status} ${r.text}`);
}

/** GET path?params, or POST path with params as a form body. */
function call(url, method, path, params = {}) {
  const form = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    for (const x of Array.isArray(v) ? v : [v]) form.append(k, String(x));
  }
  if (method === 'GET') {
    const q = form.toString();
    return request(url, q ? `${path}?${q}` : path);
  }
  return request(url, path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: form.toString(),
  });
}

/** GET gives 200 and a success envelope; returns data (routes Prometheus serves by GET only). */
async function get(url, path, params) {
  const g = await call(url, 'GET', path, params);
  assert.equal(g.status, 200, `GET ${path} ${JSON.stringify(params)}: ${g.status} ${g.text}`);
  assert.match(g.headers['content-type'], /^application\/json/);
  const body = g.json();
  assert.equal(body.status, 'success', g.text);
  return body.data;
}

/** Both methods give 200 and the same JSON; returns it. */
async function both(url, path, params) {
  const g = await call(url, 'GET', path, params);
  const p = await call(url, 'POST', path, params);
  assert.equal(g.status, 200, `GET ${path} ${JSON.stringify(params)}: ${g.status} ${g.text}`);
  assert.equal(p.status, 200, `POST ${path} ${JSON.stringify(params)}: ${p.status} ${p.text}`);
  assert.match(g.headers['content-type'], /^application\/json/);
  assert.deepEqual(p.json(), g.json(), `POST and GET ${path} differ`);
  const body = g.json();
  assert.equal(body.status, 'success', g.text);
  return body.data;
}

const vec = (metric, t, v) => ({ metric, value: [t, v] });
const req = (code, instance) => ({ __name__: 'qf_requests_total', code, instance, job: 'api' });

/** Asserts a float answer within 1e-12 relative (values computed by rate() and friends). */
function near(actual, expected, what) {
  const a = Number(actual);
  assert.ok(Math.abs(a - expected) <= 1e-12 * Math.max(1, Math.abs(expected)), `${what}: ${actual} != ${expected}`);
}

/** Routes Prometheus 2.42 serves by GET only (POST is 405 there). */
const getOnly = (path) => /^\/api\/v1\/(label\/|metadata|status\/|rules|alerts)/.test(path);

// Bad requests and Prometheus 2.42's answers: [what, path, params, status, body].
const E = (errorType, error) => ({ status: 'error', errorType, error });
const BAD = [
  ['query: missing', '/api/v1/query', {}, 400,
    E('bad_data', 'invalid parameter "query": 1:1: parse error: no expression found in input')],
  ['query: empty', '/api/v1/query', { query: '' }, 400,
    E('bad_data', 'invalid parameter "query": 1:1: parse error: no expression found in input')],
  ['query: bad time', '/api/v1/query', { query: 'up', time: 'abc' }, 400,
    E('bad_data', `invalid parameter "time": Invalid time value for 'time': cannot parse "abc" to a valid timestamp`)],
  ['query: bad timeout', '/api/v1/query', { query: 'up', timeout: 'abc' }, 400,
    E('bad_data', 'invalid parameter "timeout": cannot parse "abc" to a valid duration')],
  ['query: negative duration timeout', '/api/v1/query', { query: 'up', timeout: '-1s' }, 400,
    E('bad_data', 'invalid parameter "timeout": cannot parse "-1s" to a valid duration')],
  ['query: timeout overflows', '/api/v1/query', { query: 'up', timeout: 'Inf' }, 400,
    E('bad_data', 'invalid parameter "timeout": cannot parse "Inf" to a valid duration. It overflows int64')],
  ['query: range vector in range query', '/api/v1/query_range', { query: 'up[5m]', start: 0, end: 10, step: 1 }, 400,
    E('bad_data', 'invalid expression type "range vector" for range query, must be Scalar or instant Vector')],
  ['query_range: missing query', '/api/v1/query_range', { start: 1, end: 10, step: 1 }, 400,
    E('bad_data', '1:1: parse error: no expression found in input')],
  ['query_range: missing start', '/api/v1/query_range', { query: 'up' }, 400,
    E('bad_data', 'invalid parameter "start": cannot parse "" to a valid timestamp')],
  ['query_range: bad start', '/api/v1/query_range', { query: 'up', start: 'abc', end: 10, step: 1 }, 400,
    E('bad_data', 'invalid parameter "start": cannot parse "abc" to a valid timestamp')],
  ['query_range: bad end', '/api/v1/query_range', { query: 'up', start: 1, end: 'abc', step: 1 }, 400,
    E('bad_data', 'invalid parameter "end": cannot parse "abc" to a valid timestamp')],
  ['query_range: end before start', '/api/v1/query_range', { query: 'up', start: 10, end: 1, step: 1 }, 400,
    E('bad_data', 'invalid parameter "end": end timestamp must not be before start time')],
  ['query_range: missing step', '/api/v1/query_range', { query: 'up', start: 1, end: 10 }, 400,
    E('bad_data', 'invalid parameter "step": cannot parse "" to a valid duration')],
  ['query_range: bad step', '/api/v1/query_range', { query: 'up', start: 1, end: 10, step: 'x' }, 400,
    E('bad_data', 'invalid parameter "step": cannot parse "x" to a valid duration')],
  ['query_range: zero step', '/api/v1/query_range', { query: 'up', start: 1, end: 10, step: 0 }, 400,
    E('bad_data', 'invalid parameter "step": zero or negative query resolution step widths are not accepted. Try a positive integer')],
  ['query_range: negative step', '/api/v1/query_range', { query: 'up', start: 1, end: 10, step: '-1' }, 400,
    E('bad_data', 'invalid parameter "step": zero or negative query resolution step widths are not accepted. Try a positive integer')],
  ['query_range: 11,001 points', '/api/v1/query_range', { query: 'up', start: 0, end: 11001, step: 1 }, 400,
    E('bad_data', 'exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)')],
  ['query_range: sub-ms step, too many points', '/api/v1/query_range', { query: 'up', start: 1, end: 10, step: '0.0001' }, 400,
    E('bad_data', 'exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)')],
  ['query_range: bad timeout', '/api/v1/query_range', { query: 'up', start: 1, end: 10, step: 1, timeout: 'zz' }, 400,
    E('bad_data', 'invalid parameter "timeout": cannot parse "zz" to a valid duration')],
  ['series: no match[]', '/api/v1/series', {}, 400, E('bad_data', 'no match[] parameter provided')],
  ['series: empty match[]', '/api/v1/series', { 'match[]': '' }, 400,
    E('bad_data', 'invalid parameter "match[]": 1:1: parse error: unexpected end of input')],
  ['series: match[] matching everything', '/api/v1/series', { 'match[]': '{a=~".*"}' }, 400,
    E('bad_data', 'invalid parameter "match[]": match[] must contain at least one non-empty matcher')],
  ['series: bad start', '/api/v1/series', { 'match[]': 'up', start: 'abc' }, 400,
    E('bad_data', `invalid parameter "start": Invalid time value for 'start': cannot parse "abc" to a valid timestamp`)],
  ['series: bad end', '/api/v1/series', { 'match[]': 'up', end: 'x' }, 400,
    E('bad_data', `invalid parameter "end": Invalid time value for 'end': cannot parse "x" to a valid timestamp`)],
  ['labels: bad start', '/api/v1/labels', { start: 'x' }, 400,
    E('bad_data', `invalid parameter "start": Invalid time value for 'start': cannot parse "x" to a valid timestamp`)],
  ['labels: empty match[]', '/api/v1/labels', { 'match[]': '' }, 400,
    E('bad_data', '1:1: parse error: unexpected end of input')],
  ['labels: match[] matching everything', '/api/v1/labels', { 'match[]': '{a=~".*"}' }, 400,
    E('bad_data', 'match[] must contain at least one non-empty matcher')],
  ['label values: match[] matching everything', '/api/v1/label/a/values', { 'match[]': '{a=~".*"}' }, 400,
    E('bad_data', 'match[] must contain at least one non-empty matcher')],
  ['label values: bad start', '/api/v1/label/__name__/values', { start: 'abc' }, 400,
    E('bad_data', `invalid parameter "start": Invalid time value for 'start': cannot parse "abc" to a valid timestamp`)],
  ['label values: name starts with a digit', '/api/v1/label/1bad/values', {}, 400, E('bad_data', 'invalid label name: "1bad"')],
  ['label values: name with a dash', '/api/v1/label/a-b/values', {}, 400, E('bad_data', 'invalid label name: "a-b"')],
  ['metadata: bad limit', '/api/v1/metadata', { limit: 'x' }, 400, E('bad_data', 'limit must be a number')],
  ['exemplars: missing query', '/api/v1/query_exemplars', {}, 400, E('bad_data', '1:1: parse error: no expression found in input')],
  ['exemplars: bad start', '/api/v1/query_exemplars', { query: 'up', start: 'x' }, 400,
    E('bad_data', `invalid parameter "start": Invalid time value for 'start': cannot parse "x" to a valid timestamp`)],
  ['exemplars: end before start', '/api/v1/query_exemplars', { query: 'up', start: 10, end: 1 }, 400,
    E('bad_data', 'end timestamp must not be before start timestamp')],
  ['exemplars: selector matching everything', '/api/v1/query_exemplars', { query: '{a=~".*"}' }, 400,
    E('bad_data', '1:1: parse error: vector selector must contain at least one non-empty matcher')],
  ['format_query: missing query', '/api/v1/format_query', {}, 400,
    E('bad_data', 'invalid parameter "query": 1:1: parse error: no expression found in input')],
];

// Every Prometheus API route and the methods it takes.
const ROUTES = [
  ['/api/v1/query', ['GET', 'POST']],
  ['/api/v1/query_range', ['GET', 'POST']],
  ['/api/v1/series', ['GET', 'POST']],
  ['/api/v1/labels', ['GET', 'POST']],
  ['/api/v1/label/job/values', ['GET']],
  ['/api/v1/metadata', ['GET']],
  ['/api/v1/status/buildinfo', ['GET']],
  ['/api/v1/status/runtimeinfo', ['GET']],
  ['/api/v1/status/flags', ['GET']],
  ['/api/v1/rules', ['GET']],
  ['/api/v1/alerts', ['GET']],
  ['/api/v1/query_exemplars', ['GET', 'POST']],
  ['/api/v1/format_query', ['GET', 'POST']],
];

describe('Prometheus HTTP API', () => {
  let m = null; // defaults
  let lim = null; // small sample limit and lookback
  let one = null; // one evaluation at a time
  before(async () => {
    m = await startMeshlens({ args: [RETENTION] });
    lim = await startMeshlens({ args: [RETENTION, '--query.max-samples=100', '--query.lookback-delta=1m'] });
    one = await startMeshlens({ args: [RETENTION, '--query.max-concurrency=1'] });
    await importData(m.url);
    await importData(lim.url);
  });
  after(async () => {
    for (const s of [m, lim, one]) {
      if (!s) continue;
      const r = await s.cleanup();
      assert.equal(exitProblem(s, r), null);
    }
  });

  it('query: instant vector, GET and POST alike, labels sorted, values as Prometheus formats them',
    logged(() => m, async () => {
      const d = await both(m.url, '/api/v1/query', { query: 'qf_requests_total{instance="a"}', time: T_END });
      assert.deepEqual(d, {
        resultType: 'vector',
        result: [vec(req('200', 'a'), T_END, '2400'), vec(req('500', 'a'), T_END, '240')],
      });
      // RFC 3339 time, decimals, and a value with a fraction.
      const iso = new Date((T0 + 15) * 1000).toISOString();
      const d2 = await both(m.url, '/api/v1/query', { query: 'qf_temperature_celsius', time: iso });
      assert.deepEqual(d2, {
        resultType: 'vector',
        result: [vec({ __name__: 'qf_temperature_celsius', job: 'env', room: 'lab' }, T0 + 15, '20.5')],
      });
      const d3 = await both(m.url, '/api/v1/query', { query: 'qf_temperature_celsius', time: `${T0 + 30}.250` });
      assert.deepEqual(d3.result[0].value, [T0 + 30.25, '21']);
    }));

  it('query: scalar, string, NaN and ±Inf, and a range selector as matrix', logged(() => m, async () => {
    assert.deepEqual(await both(m.url, '/api/v1/query', { query: '1 + 1', time: T0 }),
      { resultType: 'scalar', result: [T0, '2'] });
    assert.deepEqual(await both(m.url, '/api/v1/query', { query: '"abc"', time: T0 }),
      { resultType: 'string', result: [T0, 'abc'] });
    assert.deepEqual((await both(m.url, '/api/v1/query', { query: '1/0', time: T0 })).result, [T0, '+Inf']);
    assert.deepEqual((await both(m.url, '/api/v1/query', { query: '-1/0', time: T0 })).result, [T0, '-Inf']);
    assert.deepEqual((await both(m.url, '/api/v1/query', { query: '0/0', time: T0 })).result, [T0, 'NaN']);
    const d = await both(m.url, '/api/v1/query', { query: 'qf_requests_total{code="500",instance="a"}[1m]', time: T_END });
    assert.deepEqual(d, {
      resultType: 'matrix',
      result: [{
        metric: req('500', 'a'),
        values: [4, 3, 2, 1, 0].map((k) => [T_END - k * 15, String(STEPS - k)]),
      }],
    });
  }));

  it('query: rate, sum by and histogram_quantile over the imported counters', logged(() => m, async () => {
    const d = await both(m.url, '/api/v1/query', { query: 'sum by (code) (rate(qf_requests_total[5m]))', time: T_END });
    assert.equal(d.resultType, 'vector');
    assert.deepEqual(d.result.map((s) => s.metric).sort((a, b) => a.code.localeCompare(b.code)),
      [{ code: '200' }, { code: '500' }]);
    for (const s of d.result) near(s.value[1], s.metric.code === '200' ? 2 : 0.2, `rate ${s.metric.code}`);
    const q = await both(m.url, '/api/v1/query', {
      query: 'histogram_quantile(0.9, sum by (le) (rate(qf_latency_seconds_bucket[5m])))', time: T_END,
    });
    // 90th of 10 per step: 9 in <= 0.5, so the quantile is the top of the 0.5 bucket.
    assert.deepEqual(q.result.map((s) => s.metric), [{}]);
    near(q.result[0].value[1], 0.5, 'histogram_quantile');
  }));

  it('query_range: matrix with one point per step, durations and RFC 3339 alike', logged(() => m, async () => {
    const want = {
      resultType: 'matrix',
      result: [{ metric: req('500', 'b'), values: Array.from({ length: 11 }, (_, k) => [T0 + 60 * k, String(8 * k)]) }],
    };
    const q = 'qf_requests_total{code="500",instance="b"}';
    assert.deepEqual(await both(m.url, '/api/v1/query_range', { query: q, start: T0, end: T0 + 600, step: 60 }), want);
    assert.deepEqual(await both(m.url, '/api/v1/query_range', {
      query: q,
      start: new Date(T0 * 1000).toISOString(),
      end: new Date((T0 + 600) * 1000).toISOString(),
      step: '1m',
    }), want);
    // Series sorted by labels; a scalar gives one series without labels.
    const s = await both(m.url, '/api/v1/query_range', { query: 'sum by (instance) (qf_requests_total)', start: T0, end: T0 + 30, step: 15 });
    assert.deepEqual(s.result, [
      { metric: { instance: 'a' }, values: [[T0, '0'], [T0 + 15, '11'], [T0 + 30, '22']] },
      { metric: { instance: 'b' }, values: [[T0, '0'], [T0 + 15, '22'], [T0 + 30, '44']] },
    ]);
    const t = await both(m.url, '/api/v1/query_range', { query: 'time()', start: T0, end: T0 + 1, step: '0.5' });
    assert.deepEqual(t.result, [{ metric: {}, values: [[T0, String(T0)], [T0 + 0.5, `${T0}.5`], [T0 + 1, String(T0 + 1)]] }]);
    // Exactly 11,000 points is allowed.
    const e = await both(m.url, '/api/v1/query_range', { query: 'vector(1)', start: 0, end: 11000, step: 1 });
    assert.equal(e.result[0].values.length, 11001);
  }));

  it('series: label sets of the matching series, sorted, union of several match[]', logged(() => m, async () => {
    assert.deepEqual(await both(m.url, '/api/v1/series', { 'match[]': 'qf_requests_total{instance="a"}' }),
      [req('200', 'a'), req('500', 'a')]);
    assert.deepEqual(await both(m.url, '/api/v1/series', {
      'match[]': ['qf_requests_total{code="500"}', 'qf_requests_total{instance="b"}', 'qf_temperature_celsius'],
      start: T0, end: T_END,
    }), [req('200', 'b'), req('500', 'a'), req('500', 'b'), { __name__: 'qf_temperature_celsius', job: 'env', room: 'lab' }]);
    // End before start selects nothing (Prometheus: no error).
    assert.deepEqual(await both(m.url, '/api/v1/series', { 'match[]': 'qf_requests_total', start: 10, end: 1 }), []);
  }));

  it('labels and label values: sorted, narrowed by match[]', logged(() => m, async () => {
    assert.deepEqual(await both(m.url, '/api/v1/labels', {}), ['__name__', 'code', 'instance', 'job', 'le', 'room']);
    assert.deepEqual(await both(m.url, '/api/v1/labels', { 'match[]': 'qf_temperature_celsius' }), ['__name__', 'job', 'room']);
    assert.deepEqual(await both(m.url, '/api/v1/labels', { start: 10, end: 1 }), []);
    assert.deepEqual(await get(m.url, '/api/v1/label/code/values', {}), ['200', '500']);
    assert.deepEqual(await get(m.url, '/api/v1/label/job/values', { 'match[]': 'qf_latency_seconds_count' }), ['api']);
    assert.deepEqual(await get(m.url, '/api/v1/label/__name__/values', {}), [
      'qf_latency_seconds_bucket', 'qf_latency_seconds_count', 'qf_latency_seconds_sum',
      'qf_requests_total', 'qf_temperature_celsius',
    ]);
    assert.deepEqual(await get(m.url, '/api/v1/label/le/values', { 'match[]': ['qf_latency_seconds_bucket', 'qf_requests_total'] }),
      ['+Inf', '0.1', '0.5']);
    assert.deepEqual(await get(m.url, '/api/v1/label/nosuch/values', {}), []);
  }));

  it('metadata: type, help and unit per family; metric= and limit=', logged(() => m, async () => {
    const all = await get(m.url, '/api/v1/metadata', {});
    assert.deepEqual(all.qf_requests_total, [{ type: 'counter', help: 'Requests served.', unit: '' }]);
    assert.deepEqual(all.qf_temperature_celsius, [{ type: 'gauge', help: 'Room temperature.', unit: '' }]);
    assert.deepEqual(all.qf_latency_seconds, [{ type: 'histogram', help: 'Request latency.', unit: '' }]);
    assert.deepEqual(await get(m.url, '/api/v1/metadata', { metric: 'qf_temperature_celsius' }),
      { qf_temperature_celsius: [{ type: 'gauge', help: 'Room temperature.', unit: '' }] });
    assert.deepEqual(await get(m.url, '/api/v1/metadata', { metric: 'nosuch' }), {});
    assert.equal(Object.keys(await get(m.url, '/api/v1/metadata', { limit: 1 })).length, 1);
  }));

  it('status pages: buildinfo, runtimeinfo and flags with Prometheus\'s keys', logged(() => m, async () => {
    const b = await get(m.url, '/api/v1/status/buildinfo');
    assert.deepEqual(Object.keys(b), ['version', 'revision', 'branch', 'buildUser', 'buildDate', 'goVersion']);
    assert.match(b.version, /^\d+\.\d+\.\d+/);
    const r = await get(m.url, '/api/v1/status/runtimeinfo');
    assert.deepEqual(Object.keys(r), ['startTime', 'CWD', 'reloadConfigSuccess', 'lastConfigTime', 'corruptionCount',
      'goroutineCount', 'GOMAXPROCS', 'GOGC', 'GODEBUG', 'storageRetention']);
    assert.ok(!Number.isNaN(Date.parse(r.startTime)), r.startTime);
    assert.equal(r.storageRetention, '27y20w5d'); // 10000d as Prometheus's model.Duration prints it
    const f = await get(m.url, '/api/v1/status/flags');
    assert.deepEqual(Object.keys(f), Object.keys(f).slice().sort(), 'flags sorted by name, as Prometheus');
    assert.equal(f['query.lookback-delta'], '5m');
    assert.equal(f['query.timeout'], '2m');
    assert.equal(f['query.max-samples'], '50000000');
    assert.equal(f['query.max-concurrency'], '20');
    const fl = await get(lim.url, '/api/v1/status/flags');
    assert.equal(fl['query.lookback-delta'], '1m');
    assert.equal(fl['query.max-samples'], '100');
    assert.equal((await get(one.url, '/api/v1/status/flags'))['query.max-concurrency'], '1');
  }));

  it('rules, alerts, exemplars and format_query', logged(() => m, async () => {
    assert.deepEqual(await get(m.url, '/api/v1/rules'), { groups: [] });
    assert.deepEqual(await get(m.url, '/api/v1/alerts'), { alerts: [] });
    assert.deepEqual(await both(m.url, '/api/v1/query_exemplars', { query: 'qf_requests_total', start: T0, end: T_END }), []);
    assert.equal(await both(m.url, '/api/v1/format_query', { query: 'sum(rate(x[5m]))by(a)' }), 'sum by (a) (rate(x[5m]))');
    assert.equal(await both(m.url, '/api/v1/format_query', { query: 'a+on(b)group_left c' }), 'a + on (b) group_left () c');
  }));

  it('every bad request gets Prometheus\'s status and text, by GET and by POST', logged(() => m, async () => {
    for (const [what, path, params, status, body] of BAD) {
      for (const method of getOnly(path) ? ['GET'] : ['GET', 'POST']) {
        const r = await call(m.url, method, path, params);
        assert.equal(r.status, status, `${what} (${method}): ${r.text}`);
        assert.deepEqual(r.json(), body, `${what} (${method})`);
      }
    }
    // A path under /api/v1/label/ that is not .../values: Prometheus's router 404.
    const nf = await request(m.url, '/api/v1/label/job/nothing');
    assert.equal(nf.status, 404);
    assert.equal(nf.text, '404 page not found\n');
  }));

  it('the same bad requests answered by a real Prometheus 2.42 are identical', { skip: prometheusPath() ? false : 'no prometheus binary' },
    logged(() => m, async () => {
      const prom = await startPrometheus('global:\n  scrape_interval: 15s\n');
      try {
        for (const [what, path, params] of BAD) {
          const a = await call(m.url, 'GET', path, params);
          const b = await call(prom.url, 'GET', path, params);
          assert.equal(a.status, b.status, `${what}: meshlens ${a.text} / prometheus ${b.text}`);
          assert.deepEqual(a.json(), b.json(), `${what}: meshlens vs prometheus`);
        }
      } finally {
        await prom.stop();
      }
    }));

  it('wrong method: 405 with Allow, on every route', logged(() => m, async () => {
    for (const [path, methods] of ROUTES) {
      const wrong = methods.includes('POST') ? 'PUT' : 'POST';
      const r = await request(m.url, path, { method: wrong, body: '' });
      assert.equal(r.status, 405, `${wrong} ${path}: ${r.text}`);
      const allow = (r.headers.allow ?? '').split(/,\s*/);
      for (const mth of methods) assert.ok(allow.includes(mth), `${wrong} ${path}: Allow ${r.headers.allow}`);
      assert.ok(!allow.includes(wrong), `${wrong} ${path}: Allow ${r.headers.allow}`);
    }
    const d = await request(m.url, '/api/v1/query?query=1', { method: 'DELETE' });
    assert.equal(d.status, 405);
  }));

  it('timeout=: a heavy query over its deadline is 503 "timeout"; a light one passes', logged(() => m, async () => {
    // Each takes a second or more; 50 ms leaves no doubt that the deadline
    // passes during the evaluation, not before it.
    const r = await call(m.url, 'GET', '/api/v1/query', {
      query: 'count_over_time((vector(1) * 2 + 3 > bool 0)[7d:1s])', time: T_END, timeout: '50ms',
    });
    assert.equal(r.status, 503, r.text);
    assert.deepEqual(r.json(), E('timeout', 'query timed out in expression evaluation'));
    const rr = await call(m.url, 'POST', '/api/v1/query_range', {
      query: 'count_over_time((vector(1) > bool 0)[7d:1s])', start: T0, end: T0 + 600, step: 1, timeout: '0.05',
    });
    assert.equal(rr.status, 503, rr.text);
    assert.deepEqual(rr.json(), E('timeout', 'query timed out in expression evaluation'));
    // An expired deadline (timeout=0) is a timeout before evaluation; Prometheus
    // names either phase, depending on which of two ready Go channels it picks.
    const z = await call(m.url, 'GET', '/api/v1/query', { query: '1', timeout: '0' });
    assert.equal(z.status, 503, z.text);
    assert.match(z.json().error, /^query timed out in query (queue|execution)$/);
    assert.equal(z.json().errorType, 'timeout');
    const ok = await call(m.url, 'GET', '/api/v1/query', { query: '1+1', time: T0, timeout: '30s' });
    assert.equal(ok.status, 200, ok.text);
    const ok2 = await call(m.url, 'GET', '/api/v1/query', {
      query: 'max_over_time(sum by (code) (rate(qf_requests_total[5m]))[1h:1s])', time: T_END, timeout: '1m',
    });
    assert.equal(ok2.status, 200, ok2.text);
  }));

  it('--query.max-samples: 422 "execution" with Prometheus\'s text; smaller queries pass', logged(() => lim, async () => {
    const r = await call(lim.url, 'GET', '/api/v1/query_range', {
      query: 'qf_requests_total', start: T0, end: T_END, step: 15,
    });
    assert.equal(r.status, 422, r.text);
    assert.deepEqual(r.json(),
      E('execution', 'query processing would load too many samples into memory in query execution'));
    const q = await call(lim.url, 'POST', '/api/v1/query', { query: 'qf_requests_total[1h]', time: T_END });
    assert.equal(q.status, 422, q.text);
    assert.equal(q.json().errorType, 'execution');
    const small = await both(lim.url, '/api/v1/query', { query: 'qf_requests_total', time: T_END });
    assert.equal(small.result.length, 4);
  }));

  it('--query.lookback-delta: a sample older than the lookback is not seen', logged(() => m, async () => {
    const at = T_END + 90; // newest sample 90 s old
    assert.equal((await both(m.url, '/api/v1/query', { query: 'qf_temperature_celsius', time: at })).result.length, 1);
    assert.equal((await both(lim.url, '/api/v1/query', { query: 'qf_temperature_celsius', time: at })).result.length, 0);
    assert.equal((await both(lim.url, '/api/v1/query', { query: 'qf_temperature_celsius', time: T_END + 60 })).result.length, 1);
  }));

  it('--query.max-concurrency: a query waiting for a slot past its timeout gets "query queue"', logged(() => one, async () => {
    // one allows one evaluation at a time; this one takes about a second
    // (several under a sanitizer build).
    const slow = call(one.url, 'GET', '/api/v1/query', {
      query: 'count_over_time((vector(1) * 2 + 3 > bool 0)[7d:1s])', time: T_END,
    });
    await new Promise((r) => setTimeout(r, 300)); // the slow one holds the slot by now
    const waiting = await call(one.url, 'GET', '/api/v1/query', { query: '1', timeout: '0.1' });
    const s = await slow;
    assert.equal(s.status, 200, `the slow query itself: ${s.text}`);
    assert.equal(waiting.status, 503, waiting.text);
    assert.deepEqual(waiting.json(), E('timeout', 'query timed out in query queue'));
    // With the slot free again the same query passes.
    const again = await call(one.url, 'GET', '/api/v1/query', { query: '1', timeout: '0.2', time: T0 });
    assert.equal(again.status, 200, again.text);
  }));
});
