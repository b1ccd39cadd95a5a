// promql_conformance.test.mjs - meshlens answers PromQL as Prometheus 2.42
// does. The same two hours of Istio-, span-metrics- and edge-case-shaped
// samples (tests/conformance/gen_data.mjs, fixed seed) go into a real
// Prometheus (promtool tsdb create-blocks-from openmetrics, then
// prometheus on those blocks with no scrape targets) and into meshlens
// (POST /api/v1/import/prometheus, in chunks); then every query of
// tests/conformance/queries.txt runs on both, as instant queries at
// INSTANT_TIMES and as range queries over RANGES, through /api/v1/query and
// /api/v1/query_range, and the answers are compared by
// tests/conformance/compare.mjs. The test fails naming each query that
// differs, with the difference. Skipped when prometheus or promtool is not
// installed (PROMETHEUS_BIN / PROMTOOL_BIN override the paths).
//
// Environment: CONFORMANCE_FILTER=<regex> runs only the matching queries;
// CONFORMANCE_VERBOSE=1 prints every query's outcome; CONFORMANCE_RANDOM=
// <n>[,<seed>] adds n random queries (tests/conformance/random_queries.mjs).

import { describe, before, after, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import http from 'node:http';

import { startMeshlens, freePort, tempDir, exitProblem } from './lib/meshlens.mjs';
import { prometheusPath, remoteWriteTo, startPrometheus } from './lib/prometheus.mjs';
import { T0_MS, SPAN_MS, buildSeries, openMetricsText, chunkOpenMetrics } from '../conformance/gen_data.mjs';
import { compareAnswers } from '../conformance/compare.mjs';
import { randomQueries } from '../conformance/random_queries.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const QUERIES_FILE = path.join(here, '..', 'conformance', 'queries.txt');

const T0 = T0_MS / 1000;
const END = (T0_MS + SPAN_MS) / 1000;
// Instant queries: inside the data off the scrape grid, and just after the
// end (within the 5 m lookback of the last samples for most series).
const INSTANT_TIMES = [T0 + 47 * 60 + 13.25, END + 4 * 60];
// Range queries: from before the first sample to after the lookback of the
// last one, one point a minute (131 points); and a window off every grid
// (start at .567 s, step 37.5 s) over the series that start late, stop
// early or pause, sent as a form-encoded POST as Grafana sends it.
const RANGES = [
  { start: T0 - 120, end: END + 480, step: 60, method: 'GET' },
  { start: T0 + 1234.567, end: T0 + 5000, step: 37.5, method: 'POST' },
];
// Upload bodies well under meshlens's 16 MiB request limit.
const CHUNK_BYTES = 4 << 20;
// Queries in flight at once on each server (2 cores shared with the servers).
const PARALLEL = 2;

const promtoolPath = () => {
  const bin = process.env.PROMTOOL_BIN ?? '/usr/bin/promtool';
  return existsSync(bin) ? bin : null;
};
const skip = !prometheusPath() || !promtoolPath() ? 'prometheus or promtool is not installed' : false;

/** The queries of queries.txt, and the lines excluded with "#skip". */
function loadQueries() {
  const queries = [];
  const skipped = [];
  for (const raw of readFileSync(QUERIES_FILE, 'utf8').split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#skip')) skipped.push(line);
    if (!line || line.startsWith('#')) continue;
    queries.push(line);
  }
  // Opt-in: n more fixed-seed random queries (CONFORMANCE_RANDOM=n[,seed]).
  if (process.env.CONFORMANCE_RANDOM) {
    const [n, seed] = process.env.CONFORMANCE_RANDOM.split(',').map(Number);
    queries.push(...randomQueries(n, seed || undefined));
  }
  const filter = process.env.CONFORMANCE_FILTER ? new RegExp(process.env.CONFORMANCE_FILTER) : null;
  return { queries: filter ? queries.filter((q) => filter.test(q)) : queries, skipped };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Prometheus serving the blocks in `dataDir` (no scrape targets). */
async function startPrometheusOn(dataDir, cfgDir) {
  const cfg = path.join(cfgDir, 'prometheus.yml');
  await writeFile(cfg, 'global:\n  scrape_interval: 15s\n');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let log = '';
  let exit = null;
  const child = spawn(
    prometheusPath(),
    [`--config.file=${cfg}`, `--storage.tsdb.path=${dataDir}`, `--web.listen-address=127.0.0.1:${port}`, '--storage.tsdb.retention.time=100y'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const keep = (c) => {
    log = (log + c.toString('utf8')).slice(-65536);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve((exit = { code, signal }))));
  process.on('exit', () => child.kill('SIGKILL'));
  const handle = {
    url,
    async stop() {
      if (exit) return exit;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
      const r = await exited;
      clearTimeout(timer);
      return r;
    },
  };
  for (let i = 0; i < 300 && !exit; i++) {
    try {
      const r = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(2000) });
      await r.arrayBuffer();
      if (r.status === 200) return handle;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  await handle.stop();
  throw new Error(`prometheus was not ready (${JSON.stringify(exit)})\n${log.slice(-4000)}`);
}

/**
 * GET <base><path>?params, or POST with the params form-encoded (as Grafana
 * sends panel queries), as {status, body (JSON or null), text}.
 */
async function query(base, apiPath, params, method = 'GET') {
  const form = new URLSearchParams(params);
  const r =
    method === 'POST'
      ? await fetch(`${base}${apiPath}`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
          body: form.toString(),
          signal: AbortSignal.timeout(120000),
        })
      : await fetch(`${base}${apiPath}?${form}`, { signal: AbortSignal.timeout(120000) });
  const text = await r.text();
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    // compareAnswers reports the missing JSON
  }
  return { status: r.status, body, text };
}

/** Runs fn over items with at most n in flight, keeping the result order. */
async function pool(items, n, fn) {
  const out = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: n }, worker));
  return out;
}

describe('PromQL conformance: the comparison', () => {
  const vec = (value, metric = { a: '1' }) => ({ status: 200, body: { status: 'success', data: { resultType: 'vector', result: [{ metric, value }] } } });
  const mat = (values, metric = { a: '1' }) => ({ status: 200, body: { status: 'success', data: { resultType: 'matrix', result: [{ metric, values }] } } });
  const err = (status, errorType, error) => ({ status, body: { status: 'error', errorType, error } });

  it('accepts equal answers, NaN as NaN, and sums in another order within 1e-9', () => {
    assert.deepEqual(compareAnswers('x', vec([1, 'NaN']), vec([1, 'NaN'])), []);
    assert.deepEqual(compareAnswers('x', vec([1, '22.94153771542337']), vec([1, '22.941537715423372'])), []);
    assert.deepEqual(compareAnswers('x', mat([[1, '+Inf'], [2, '3']]), mat([[1, '+Inf'], [2, '3']]), { range: true }), []);
  });

  it('reports other values, labels, timestamps, types, errors and number texts', () => {
    const differs = (got, exp, opts) => assert.notDeepEqual(compareAnswers('x', got, exp, opts), []);
    differs(vec([1, '3']), vec([1, '4']));
    differs(vec([1, '3.0000000001']), vec([1, '3'])); // integers exactly
    differs(vec([1, '0.1']), vec([1, '0.10001']));
    differs(vec([1, 'NaN']), vec([1, '0']));
    differs(vec([1, '+Inf']), vec([1, '-Inf']));
    differs(vec([1, '1000000000000000000000']), vec([1, '1e+21'])); // same double, other text
    differs(vec([1, '3'], { a: '2' }), vec([1, '3']));
    differs(vec([2, '3']), vec([1, '3']));
    differs(mat([[1, '3']]), vec([1, '3']));
    differs(mat([[1, '3'], [2, '4']]), mat([[1, '3']]));
    differs(vec([1, '3']), err(400, 'bad_data', 'parse error'));
    differs(err(422, 'execution', 'a'), err(400, 'bad_data', 'a'));
    differs(err(422, 'execution', 'a'), err(422, 'execution', 'b'));
    // Parse errors: the text counts when asked, as the corpus test asks.
    const parseErr = (text) => err(400, 'bad_data', `invalid parameter "query": ${text}`);
    differs(parseErr('1:14: parse error: x'), parseErr('1:1: parse error: x'), { compareErrorText: true });
    assert.deepEqual(compareAnswers('x', parseErr('1:14: parse error: x'), parseErr('1:1: parse error: x')), []);
    const sorted = { status: 200, body: { status: 'success', data: { resultType: 'vector', result: [{ metric: { a: '1' }, value: [1, '1'] }, { metric: { a: '2' }, value: [1, '2'] }] } } };
    const reversed = { status: 200, body: { status: 'success', data: { resultType: 'vector', result: [...sorted.body.data.result].reverse() } } };
    assert.deepEqual(compareAnswers('sum(x)', reversed, sorted), []);
    assert.notDeepEqual(compareAnswers('sort(x)', reversed, sorted), []);
    // Which two series a duplicate-series error names follows Prometheus's map order.
    const dup = (group, side, list) =>
      err(422, 'execution', `found duplicate series for the match group ${group} on the ${side} hand-side of the operation: [${list}];many-to-many matching not allowed: matching labels must be unique on one side`);
    assert.deepEqual(compareAnswers('x', dup('{a="1"}', 'right', '{b="1"}, {b="2"}'), dup('{a="1"}', 'right', '{b="3"}, {b="1"}')), []);
    differs(dup('{a="1"}', 'right', '{b="1"}'), dup('{a="2"}', 'right', '{b="1"}'));
    differs(dup('{a="1"}', 'right', '{b="1"}'), dup('{a="1"}', 'left', '{b="1"}'));
  });
});

describe('PromQL conformance: meshlens against Prometheus 2.42 on the same data', { skip }, () => {
  let prom;
  let mesh;
  let nSamples = 0;

  before(async () => {
    const dir = await tempDir('meshlens-conf-');
    const series = buildSeries();
    const text = openMetricsText(series);
    nSamples = text.split('\n').length - 2;
    const omFile = path.join(dir, 'data.om');
    await writeFile(omFile, text);
    const promData = path.join(dir, 'prom');
    await promisify(execFile)(promtoolPath(), ['tsdb', 'create-blocks-from', 'openmetrics', omFile, promData], {
      maxBuffer: 16 << 20,
    });
    const [p, m] = await Promise.allSettled([
      startPrometheusOn(promData, dir),
      // The data is from 2024: keep it whatever the machine's clock says.
      startMeshlens({ args: ['--storage.retention=36500d', '--log.level=info'] }),
    ]);
    // Keep whichever started, so that after() stops it even if the other failed.
    if (p.status === 'fulfilled') prom = p.value;
    if (m.status === 'fulfilled') mesh = m.value;
    if (p.status === 'rejected') throw p.reason;
    if (m.status === 'rejected') throw m.reason;
    for (const body of chunkOpenMetrics(text, CHUNK_BYTES)) {
      const r = await fetch(`${mesh.url}/api/v1/import/prometheus`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/openmetrics-text; version=1.0.0; charset=utf-8' },
        body,
      });
      const answer = await r.text();
      assert.equal(r.status, 204, `import answered ${r.status}: ${answer}\n${mesh.tail(20)}`);
    }
  });

  after(async () => {
    if (prom) await prom.stop();
    if (mesh) {
      const result = await mesh.cleanup();
      assert.equal(exitProblem(mesh, result), null);
    }
  });

  it('both hold every sample of the data set', async () => {
    // Per metric name: count_over_time drops the name, and series such as
    // x_sum and x_count differ only in it.
    const names = [...new Set(buildSeries().map((s) => s.labels.__name__))];
    let promTotal = 0;
    let meshTotal = 0;
    for (const name of names) {
      const q = { query: `sum(count_over_time({__name__="${name}"}[3h]))`, time: String(END + 60) };
      const [p, m] = await Promise.all([query(prom.url, '/api/v1/query', q), query(mesh.url, '/api/v1/query', q)]);
      const pv = p.body?.data?.result?.[0]?.value?.[1];
      assert.equal(m.body?.data?.result?.[0]?.value?.[1], pv, `${name}: meshlens ${m.text}, Prometheus ${p.text}`);
      promTotal += Number(pv);
      meshTotal += Number(m.body.data.result[0].value[1]);
    }
    assert.equal(promTotal, nSamples, 'Prometheus holds every sample');
    assert.equal(meshTotal, nSamples, 'meshlens holds every sample');
  });

  it('reads times and steps in every form Prometheus reads, and refuses the same ones with the same texts', async () => {
    const cases = [
      ['/api/v1/query', { query: 'rate(istio_requests_total[5m])', time: '2024-01-01T01:00:00Z' }],
      ['/api/v1/query', { query: 'rate(istio_requests_total[5m])', time: '2024-01-01T01:00:00.123+01:00' }],
      ['/api/v1/query', { query: 'conf_int', time: '1704070000.1234' }],
      ['/api/v1/query', { query: 'conf_int', time: '1704070000.9999' }],
      ['/api/v1/query', { query: 'conf_int', time: '1.7040700001e9' }],
      ['/api/v1/query_range', { query: 'conf_int', start: '2024-01-01T00:30:00Z', end: '2024-01-01T01:00:00Z', step: '1m' }],
      ['/api/v1/query_range', { query: 'conf_int', start: '1704069000', end: '1704070000', step: '15.5' }],
      ['/api/v1/query_range', { query: 'conf_int', start: '1704069000', end: '1704070000', step: '1m30s' }],
      ['/api/v1/query_range', { query: 'conf_int', start: '1704069000', end: '1704070000', step: '0.1' }],
      ['/api/v1/query_range', { query: 'conf_int', start: '1704069000.5', end: '1704069000.5', step: '10' }],
      ['/api/v1/query_range', { query: 'conf_int', start: '1704070000', end: '1704069000', step: '10' }],
      ['/api/v1/query_range', { query: 'conf_int', start: '1704069000', end: '1704070000', step: '0' }],
      ['/api/v1/query_range', { query: 'conf_int', start: '1704069000', end: '1704070000', step: '-1' }],
      ['/api/v1/query_range', { query: 'conf_int', start: '1704069000', end: '1704070000', step: '0.001' }],
      ['/api/v1/query_range', { query: 'conf_int', start: '1704069000', end: '1704070000' }],
      ['/api/v1/query_range', { query: 'conf_int', start: 'abc', end: '1704070000', step: '10' }],
      ['/api/v1/query', { query: 'conf_int', time: 'abc' }],
      ['/api/v1/query', { query: '' }],
      ['/api/v1/query', { time: '1704070000' }],
    ];
    const failures = [];
    for (const [api, params] of cases) {
      const [p, m] = await Promise.all([query(prom.url, api, params), query(mesh.url, api, params)]);
      const diffs = compareAnswers(params.query ?? '', m, p, { range: api.endsWith('range'), compareErrorText: true });
      if (diffs.length) failures.push(`${api} ${JSON.stringify(params)}\n    ${diffs.slice(0, 4).join('\n    ')}`);
    }
    assert.deepEqual(failures, []);
  });

  it("answers Grafana's template variable lookups (series, labels, label values) as Prometheus does", async () => {
    const S = String(T0);
    const E = String(END);
    // Not compared: label values with match[] over a window inside a block
    // but after a series' last sample. Prometheus 2.42 answers from the
    // block's index (the series is listed), meshlens from the samples.
    const cases = [
      ['/api/v1/series', [['match[]', 'up'], ['start', S], ['end', E]]],
      ['/api/v1/series', [['match[]', 'istio_requests_total{destination_workload="reviews-v2"}'], ['start', S], ['end', E]]],
      ['/api/v1/series', [['match[]', '{__name__=~"conf_.*"}'], ['match[]', 'up'], ['start', S], ['end', E]]],
      ['/api/v1/series', [['match[]', 'up'], ['start', String(T0 + 800)], ['end', String(T0 + 900)]]],
      ['/api/v1/series', [['match[]', '{job=~".*"}']]],
      ['/api/v1/series', []],
      ['/api/v1/labels', [['start', S], ['end', E]]],
      ['/api/v1/labels', [['match[]', 'traces_spanmetrics_calls_total'], ['start', S], ['end', E]]],
      ['/api/v1/label/__name__/values', [['start', S], ['end', E]]],
      ['/api/v1/label/destination_workload/values', [['match[]', 'istio_requests_total'], ['start', S], ['end', E]]],
      ['/api/v1/label/service_name/values', [['match[]', 'traces_span_metrics_calls_total{span_kind="SPAN_KIND_SERVER"}'], ['start', S], ['end', E]]],
      ['/api/v1/label/job/values', []],
    ];
    // Series lists have no promised order: compare them as sets.
    const canon = (body) => {
      if (!Array.isArray(body?.data) || typeof body.data[0] !== 'object') return JSON.stringify(body);
      return JSON.stringify({ ...body, data: body.data.map((m) => JSON.stringify(Object.entries(m).sort())).sort() });
    };
    const failures = [];
    for (const [api, params] of cases) {
      const qs = new URLSearchParams(params);
      const [p, m] = await Promise.all(
        [prom.url, mesh.url].map(async (base) => {
          const r = await fetch(`${base}${api}?${qs}`, { signal: AbortSignal.timeout(60000) });
          const text = await r.text();
          return { status: r.status, text, body: JSON.parse(text) };
        }),
      );
      if (p.status !== m.status || canon(p.body) !== canon(m.body)) {
        failures.push(`${api}?${qs}\n  meshlens:   ${m.status} ${m.text.slice(0, 400)}\n  Prometheus: ${p.status} ${p.text.slice(0, 400)}`);
      }
    }
    assert.deepEqual(failures, []);
  });

  it('answers every query of the corpus as Prometheus does (instant and range)', async () => {
    const { queries, skipped } = loadQueries();
    const cases = [];
    for (const q of queries) {
      for (const t of INSTANT_TIMES) cases.push({ q, kind: `instant @${t}`, api: '/api/v1/query', params: { query: q, time: String(t) } });
      for (const r of RANGES) {
        cases.push({
          q,
          kind: `range ${r.start}..${r.end} step ${r.step} (${r.method})`,
          api: '/api/v1/query_range',
          method: r.method,
          range: true,
          params: { query: q, start: String(r.start), end: String(r.end), step: String(r.step) },
        });
      }
    }
    const started = Date.now();
    const results = await pool(cases, PARALLEL, async (c) => {
      const [p, m] = await Promise.all([query(prom.url, c.api, c.params, c.method), query(mesh.url, c.api, c.params, c.method)]);
      const stats = { approx: 0 };
      // Error texts too: a parse error must read as Prometheus's, position included.
      const diffs = compareAnswers(c.q, m, p, { range: c.range, stats, compareErrorText: true });
      if (process.env.CONFORMANCE_VERBOSE) {
        console.log(`${diffs.length ? 'DIFF ' : stats.approx ? '~1e-9' : 'ok   '} ${c.kind} ${c.q}`);
      }
      return { ...c, diffs, approx: stats.approx, promError: p.body?.status === 'error' };
    });
    const failedQueries = new Map();
    for (const r of results) {
      if (!r.diffs.length) continue;
      if (!failedQueries.has(r.q)) failedQueries.set(r.q, []);
      failedQueries.get(r.q).push(r);
    }
    const nErr = new Set(results.filter((r) => r.promError).map((r) => r.q)).size;
    const nApprox = new Set(results.filter((r) => r.approx).map((r) => r.q)).size;
    const lines = [
      `${queries.length - failedQueries.size}/${queries.length} queries equal (${cases.length} requests to each server, ` +
        `${nErr} queries where Prometheus answers an error, its text compared too, ` +
        `${nApprox} with values equal only within 1e-9, ` +
        `${skipped.length} excluded) in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    ];
    for (const [q, rs] of failedQueries) {
      lines.push(`\nQUERY ${q}`);
      for (const r of rs) {
        lines.push(`  ${r.kind}:`);
        for (const d of r.diffs.slice(0, 8)) lines.push(`    ${d}`);
        if (r.diffs.length > 8) lines.push(`    ... ${r.diffs.length - 8} more differences`);
      }
    }
    console.log(lines.join('\n'));
    assert.equal(failedQueries.size, 0, `${failedQueries.size} queries differ from Prometheus:\n${lines.join('\n')}`);
  });

  it('formats every query of the corpus as Prometheus does (format_query, split over lines past 100 characters)', async () => {
    const { queries } = loadQueries();
    const long = 'istio_request_duration_milliseconds_bucket{reporter="destination",destination_workload_namespace="default"}';
    const extra = [
      `-sum by (le) (rate(${long}[5m]))`,
      `-(sum by (le) (rate(${long}[5m])))`,
      `max_over_time(sum by (le) (rate(${long}[5m]))[30m:1m] offset 5m)`,
      `sum by (le) (rate(${long}[5m]))[30m:1m] @ 1704070000`,
      `topk(3, sum by (destination_workload) (rate(${long}[5m])) / ignoring (le) group_left sum(rate(${long}[5m])))`,
      `label_replace(sum by (le) (rate(${long}[5m])), "x", "$1", "le", "(.*)")`,
      `((sum(rate(${long}[5m])) > bool 0) or vector(0)) * 100`,
      `histogram_quantile(0.99, sum without (instance) (rate(${long}[5m]))) > on (destination_workload) group_right (a, b) up`,
    ];
    const failures = [];
    await pool([...queries, ...extra], PARALLEL, async (q) => {
      const [p, m] = await Promise.all([prom.url, mesh.url].map((base) => query(base, '/api/v1/format_query', { query: q })));
      const same = p.status === m.status &&
        (p.body?.status === 'success' ? m.body?.data === p.body.data : m.body?.errorType === p.body?.errorType);
      if (!same) failures.push(`${q}\n  meshlens:   ${m.status} ${m.text.slice(0, 600)}\n  Prometheus: ${p.status} ${p.text.slice(0, 600)}`);
    });
    assert.deepEqual(failures, []);
  });
});

// Staleness: OpenMetrics text cannot carry Prometheus's staleness markers, so
// here Prometheus scrapes a live target every second and remote-writes what
// it stores, markers included, to meshlens. A series that leaves the target's
// output and a target whose scrapes start failing are marked stale; queries
// at instants and ranges around those moments must then agree.
const STALE_RUN_MS = 22000;
const STALE_QUERIES = [
  'conf_stale_gauge',
  'conf_stale_gauge{series="flaky"}',
  'up',
  'conf_stale_total',
  'rate(conf_stale_total[5s])',
  'increase(conf_stale_total[10s])',
  'count_over_time(conf_stale_gauge[5s])',
  'last_over_time(conf_stale_gauge[5s])',
  'present_over_time(conf_stale_gauge[3s])',
  'absent(conf_stale_gauge{series="flaky"})',
  'absent_over_time(conf_stale_gauge{series="flaky"}[2s])',
  'timestamp(conf_stale_gauge)',
  'conf_stale_gauge[4s]',
  'max_over_time(conf_stale_gauge[1m])',
  'changes(conf_stale_gauge[1m])',
  'resets(conf_stale_total[1m])',
  'sum(conf_stale_gauge)',
  'count by (job) (conf_stale_gauge)',
  'conf_stale_gauge offset 3s',
  'min_over_time(conf_stale_gauge[10s:1s])',
  'scrape_samples_scraped',
  'sum by (job) (up)',
  'conf_stale_gauge * on(job, instance) group_left up',
];

/** A target: /a always answers; /b answers until failAfter scrapes of it, then 500. */
function startStaleTarget(failAfter) {
  let a = 0;
  let b = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    if (req.url === '/a') {
      a++;
      body += `conf_stale_gauge{series="always"} ${a % 5}\n`;
      if ((a >= 4 && a < 10) || a >= 15) body += `conf_stale_gauge{series="flaky"} ${a}\n`;
      body += `conf_stale_total ${a < 12 ? a * 3 : (a - 12) * 2}\n`;
    } else {
      b++;
      if (b > failAfter) {
        res.writeHead(500);
        res.end('gone');
        return;
      }
      body += `conf_stale_gauge{series="other"} ${b * 1.5}\n`;
      body += `conf_stale_total ${b}\n`;
    }
    res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' });
    res.end(body);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: server.address().port })));
}

describe('PromQL conformance: staleness markers remote-written by a scraping Prometheus', { skip: prometheusPath() ? false : 'prometheus is not installed' }, () => {
  let prom;
  let mesh;
  let target;
  let t0;

  before(async () => {
    mesh = await startMeshlens({ args: ['--log.level=info'] });
    target = await startStaleTarget(8);
    const job = (name, path) => [`  - job_name: ${name}`, `    metrics_path: ${path}`, '    static_configs:', `      - targets: ['127.0.0.1:${target.port}']`];
    prom = await startPrometheus(
      [
        'global:',
        '  scrape_interval: 1s',
        '  scrape_timeout: 1s',
        'scrape_configs:',
        ...job('stale_a', '/a'),
        ...job('stale_b', '/b'),
        ...remoteWriteTo(mesh.url),
        '',
      ].join('\n'),
    );
    t0 = Date.now() / 1000;
  });

  after(async () => {
    if (prom) await prom.stop();
    if (target) await new Promise((r) => target.server.close(r));
    if (mesh) {
      const result = await mesh.cleanup();
      assert.equal(exitProblem(mesh, result), null);
    }
  });

  it('answers as Prometheus around series that go stale and come back', async () => {
    await sleep(STALE_RUN_MS);
    // Compare up to a past instant both have received (remote write lags by
    // a batch): the same raw samples of every series up to it.
    const end = Math.floor(Date.now() / 1000) - 4;
    const raw = { query: '{job=~"stale_.*"}[1m]', time: String(end) };
    let same = false;
    for (let i = 0; i < 40 && !same; i++) {
      const [p, m] = await Promise.all([query(prom.url, '/api/v1/query', raw), query(mesh.url, '/api/v1/query', raw)]);
      same = compareAnswers(raw.query, m, p).length === 0;
      if (!same) await sleep(250);
    }
    assert.ok(same, 'meshlens received every sample Prometheus scraped');
    await sleep(1500); // staleness markers travel in the same batches; one more deadline for safety
    const start = Math.ceil(t0) + 1;
    const cases = [];
    for (const q of STALE_QUERIES) {
      for (let t = start; t <= end; t += 1.25) cases.push({ q, kind: `instant @${t}`, api: '/api/v1/query', params: { query: q, time: String(t) } });
      for (const step of ['1', '0.7']) {
        cases.push({ q, kind: `range step ${step}`, api: '/api/v1/query_range', range: true, params: { query: q, start: String(start), end: String(end), step } });
      }
    }
    const failures = [];
    const flaky = []; // [t, series in Prometheus's answer] for the series that goes stale
    await pool(cases, PARALLEL, async (c) => {
      const [p, m] = await Promise.all([query(prom.url, c.api, c.params), query(mesh.url, c.api, c.params)]);
      if (c.q === 'conf_stale_gauge{series="flaky"}' && !c.range) flaky.push([Number(c.params.time), p.body?.data?.result?.length]);
      const diffs = compareAnswers(c.q, m, p, { range: c.range });
      if (diffs.length) failures.push(`${c.q} (${c.kind}):\n    ${diffs.slice(0, 6).join('\n    ')}`);
    });
    console.log(`staleness: ${cases.length - failures.length}/${cases.length} requests equal over ${end - start} s`);
    // The window must hold a series that went stale (else this proves nothing).
    flaky.sort((x, y) => x[0] - y[0]);
    assert.ok(
      flaky.some(([t, n]) => n === 0 && flaky.some(([u, k]) => u < t && k === 1)),
      `no staleness in the window: ${JSON.stringify(flaky)}`,
    );
    assert.deepEqual(failures, []);
  });
});
