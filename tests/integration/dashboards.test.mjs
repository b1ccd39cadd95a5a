// dashboards.test.mjs - the Grafana dashboards and provisioning files of
// dashboards/grafana/ work against a real meshlens.
//
// Grafana does not run in the test environment, so the test sends what
// Grafana (10-12) sends (docs/DASHBOARDS.md, "What the test checks"):
//   - the provisioning YAML parses and names the two data sources every
//     dashboard refers to (by uid), at meshlens's default address;
//   - every dashboard is a well-formed JSON model (unique uid, schema 39,
//     last hour, 30 s refresh, every panel with queries, every $variable
//     defined, every data source provisioned);
//   - with Bookinfo traffic (Envoy-shaped Zipkin spans) in a meshlens that
//     flushes its derived metrics every second, each template variable's
//     label_values() query is sent as Grafana sends it
//     (/api/v1/label/<name>/values?match[]=...&start&end) and a value is
//     chosen from the answer; each panel expression is then interpolated as
//     Grafana's Prometheus data source does ($__rate_interval, $__interval,
//     $__range; a single value as is, "All" as the allValue, several values
//     as an escaped regex alternation) and run as /api/v1/query_range by GET
//     and by form POST, table panels also as instant queries; Jaeger panels
//     run their /api/dependencies or /api/traces request. Each dashboard is
//     run as it opens and with every value of its multi-value variables;
//   - every query answers "success", and every panel has data (a non-NaN
//     value); EMPTY_OK would list a panel allowed to be empty, with why;
//   - the Jaeger data source's trace-to-metrics links, built from a span
//     read back through the Jaeger API, give data.
// The health dashboard reads meshlens_* and process_* series, which reach a
// Prometheus API only by a scrape of /metrics: the test does that scrape
// itself and imports those families (as a Prometheus with a keep-relabel
// rule and remote write would), twice, so that rate() has two samples.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

import { startMeshlens, exitProblem, logged } from './lib/meshlens.mjs';
import { request } from './lib/http.mjs';
import { instant } from './lib/metrics.mjs';
import { bookinfoTrace, postBookinfoTraces } from './lib/bookinfo.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../..');
const GRAFANA = path.join(REPO, 'dashboards/grafana');
const PROM_UID = 'meshlens-prometheus';
const JAEGER_UID = 'meshlens-jaeger';

// DASHBOARDS_VERBOSE=1 prints every panel query as it was sent.
const VERBOSE = Boolean(process.env.DASHBOARDS_VERBOSE);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const POLL_MS = 250;
const POLLS = 120; // 30 s at most for the derived series to appear

// Grafana's dashboard range (every dashboard defaults to now-1h) and the
// panel width in data points it divides the range by ($__interval before
// the data source's minimum, timeInterval, applies).
const RANGE_S = 3600;
const MAX_DATA_POINTS = 1000;

// Which value of a variable the test picks, as a user would, where the
// first value would leave half the dashboard empty (details-v1 calls no one).
const PICK = {
  'meshlens-service': { service: 'reviews' },
  'meshlens-workload': { workload: 'reviews-v2' },
  'meshlens-spans': { service: 'reviews.default' },
};

// Panels that may legitimately answer an empty result with Bookinfo traffic:
// "<dashboard uid> / <panel title> / <refId>" -> why.
const EMPTY_OK = {};

// ------------------------------------------------------------ files

function walk(dir) {
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out.sort();
}

const FILES = walk(GRAFANA);
const DASHBOARD_FILES = FILES.filter((f) => f.endsWith('.json'));
const DASHBOARDS = DASHBOARD_FILES.map((f) => ({ file: path.relative(REPO, f), model: JSON.parse(readFileSync(f, 'utf8')) }));
const DATASOURCES_YAML = path.join(GRAFANA, 'provisioning/datasources/meshlens.yaml');
const PROVIDERS_YAML = path.join(GRAFANA, 'provisioning/dashboards/meshlens.yaml');

/** Every panel of a dashboard, rows' nested panels included. */
function panelsOf(model) {
  const out = [];
  for (const p of model.panels ?? []) {
    out.push(p);
    if (p.type === 'row') out.push(...(p.panels ?? []));
  }
  return out;
}

/** The variables of a dashboard by name. */
const variablesOf = (model) => new Map((model.templating?.list ?? []).map((v) => [v.name, v]));

/** The query text of a variable (Grafana keeps it as a string or as {query}). */
const variableQuery = (v) => (typeof v.query === 'string' ? v.query : v.query?.query ?? '');

/** The provisioned data sources by uid. */
function provisionedDatasources() {
  const doc = YAML.parse(readFileSync(DATASOURCES_YAML, 'utf8'));
  return new Map((doc.datasources ?? []).map((d) => [d.uid, d]));
}

// Grafana's variable syntax: $name, ${name}, ${name:format}, [[name]].
const VAR_RE = /\$\{([A-Za-z0-9_]+)(?::[A-Za-z0-9_]+)?\}|\$([A-Za-z0-9_]+)|\[\[([A-Za-z0-9_]+)\]\]/g;
const BUILTINS = new Set(['__rate_interval', '__interval', '__interval_ms', '__range', '__range_s', '__range_ms', '__from', '__to', '__all']);

/** Names of the variables a text uses. */
function variablesUsed(text) {
  const out = new Set();
  for (const m of text.matchAll(VAR_RE)) out.add(m[1] ?? m[2] ?? m[3]);
  return out;
}

/** The uid a datasource reference names, with a ${datasource} variable resolved. */
function datasourceUid(ref, vars) {
  if (!ref) return undefined;
  const uid = typeof ref === 'string' ? ref : ref.uid;
  const m = /^\$\{?([A-Za-z0-9_]+)\}?$/.exec(uid ?? '');
  if (m) {
    const v = vars.get(m[1]);
    return v && v.type === 'datasource' ? v.current?.value : undefined;
  }
  return uid;
}

// ------------------------------------------------------------ Grafana's interpolation

// public/app/plugins/datasource/prometheus: a single value keeps regex
// characters (only \ and ' are escaped); multi-value and include-all
// variables escape each value for a regex and join them as (a|b).
const regularEscape = (s) => s.replace(/\\/g, '\\\\').replace(/'/g, "\\\\'");
const specialRegexEscape = (s) => s.replace(/\\/g, '\\\\\\\\').replace(/[$^*{}[\]'+?.()|]/g, '\\\\$&');

function formatValue(v, value) {
  if (!v.multi && !v.includeAll) return regularEscape(value);
  if (value === '$__all') return v.allValue;
  const list = Array.isArray(value) ? value : [value];
  const escaped = list.map(specialRegexEscape);
  return escaped.length === 1 ? escaped[0] : `(${escaped.join('|')})`;
}

/** Grafana's rangeUtil.secondsToHms for whole seconds. */
function secondsToHms(s) {
  const units = [
    ['y', 31536000],
    ['w', 604800],
    ['d', 86400],
    ['h', 3600],
    ['m', 60],
  ];
  for (const [u, n] of units) if (s % n === 0 && s >= n) return `${s / n}${u}`;
  return `${s}s`;
}

/**
 * The time values of one dashboard refresh at `now` (seconds): Grafana's
 * $__interval is range / max data points, at least the data source's
 * timeInterval (scrape interval); $__rate_interval is
 * max($__interval + scrape, 4 * scrape); query_range's step is $__interval
 * and start/end are floored to a multiple of it.
 */
function timeContext(now, scrapeS) {
  const intervalS = Math.max(Math.ceil(RANGE_S / MAX_DATA_POINTS), scrapeS);
  const rateS = Math.max(intervalS + scrapeS, 4 * scrapeS);
  const end = Math.floor(now / intervalS) * intervalS;
  const start = Math.floor((now - RANGE_S) / intervalS) * intervalS;
  return {
    start,
    end,
    step: intervalS,
    builtins: {
      __interval: secondsToHms(intervalS),
      __interval_ms: String(intervalS * 1000),
      __rate_interval: secondsToHms(rateS),
      __range: `${RANGE_S}s`,
      __range_s: String(RANGE_S),
      __range_ms: String(RANGE_S * 1000),
    },
  };
}

/** Replaces variables in text as Grafana does before a Prometheus query. */
function interpolate(text, vars, chosen, tc) {
  return text.replace(VAR_RE, (whole, a, b, c) => {
    const name = a ?? b ?? c;
    if (name in tc.builtins) return tc.builtins[name];
    const v = vars.get(name);
    if (!v || !chosen.has(name)) return whole;
    if (v.type === 'datasource') return chosen.get(name);
    return formatValue(v, chosen.get(name));
  });
}

/** label_values(label) or label_values(selector, label). */
function parseLabelValues(q) {
  const m = /^\s*label_values\(\s*(?:(.*\S)\s*,\s*)?([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$/s.exec(q);
  return m ? { selector: m[1], label: m[2] } : null;
}

// ------------------------------------------------------------ the static checks

describe('Grafana provisioning and dashboard files', () => {
  it('finds the provisioning files and at least the five dashboards', () => {
    assert.ok(FILES.includes(DATASOURCES_YAML), `${DATASOURCES_YAML} missing`);
    assert.ok(FILES.includes(PROVIDERS_YAML), `${PROVIDERS_YAML} missing`);
    const titles = DASHBOARDS.map((d) => d.model.title).sort();
    for (const t of ['Mesh overview', 'Service', 'Workload', 'Spans (span metrics)', 'meshlens']) {
      assert.ok(titles.includes(t), `no dashboard titled ${t} (have ${titles.join(', ')})`);
    }
  });

  it('provisions a Prometheus and a Jaeger data source at meshlens\'s default address, linked', () => {
    const ds = provisionedDatasources();
    const doc = YAML.parse(readFileSync(DATASOURCES_YAML, 'utf8'));
    assert.equal(doc.apiVersion, 1);
    // The default --web.listen-address, as docs/FLAGS.md (generated from the flag table) gives it.
    const flags = readFileSync(path.join(REPO, 'docs/FLAGS.md'), 'utf8');
    const listen = /\|\s*`--web\.listen-address`\s*\|\s*([^|\s]+)\s*\|/.exec(flags)?.[1];
    assert.ok(listen, 'default --web.listen-address not found in docs/FLAGS.md');
    const prom = ds.get(PROM_UID);
    const jaeger = ds.get(JAEGER_UID);
    assert.ok(prom && jaeger, `data sources: ${[...ds.keys()].join(', ')}`);
    assert.equal(prom.type, 'prometheus');
    assert.equal(jaeger.type, 'jaeger');
    assert.equal(prom.url, `http://${listen}`);
    assert.equal(jaeger.url, `http://${listen}`);
    assert.match(prom.jsonData.timeInterval, /^\d+s$/);
    assert.ok(['GET', 'POST'].includes(prom.jsonData.httpMethod));
    for (const e of prom.jsonData.exemplarTraceIdDestinations ?? []) assert.equal(e.datasourceUid, JAEGER_UID);
    const t2m = jaeger.jsonData.tracesToMetrics;
    assert.equal(t2m.datasourceUid, PROM_UID);
    assert.ok(t2m.queries.length > 0);
    // `$` starts an environment variable in provisioning files: Grafana's
    // $__tags must be written $$__tags or it arrives empty.
    for (const q of t2m.queries) {
      if (q.query === undefined) continue; // Grafana's default query
      assert.doesNotMatch(q.query.replace(/\$\$/g, ''), /\$/, `${q.name}: a single $ in ${q.query}`);
    }
    assert.equal(jaeger.jsonData.nodeGraph.enabled, true);
  });

  it('provides the dashboards from a folder through a file provider', () => {
    const doc = YAML.parse(readFileSync(PROVIDERS_YAML, 'utf8'));
    assert.equal(doc.apiVersion, 1);
    assert.equal(doc.providers.length, 1);
    const p = doc.providers[0];
    assert.equal(p.type, 'file');
    assert.ok(p.folder && p.options?.path, JSON.stringify(p));
  });

  it('has well-formed dashboards: unique uids, Grafana 10 schema, panels with queries, known data sources and variables', () => {
    const ds = provisionedDatasources();
    const uids = DASHBOARDS.map((d) => d.model.uid);
    assert.equal(new Set(uids).size, uids.length, `duplicate uid in ${uids.join(', ')}`);
    const problems = [];
    for (const { file, model } of DASHBOARDS) {
      const say = (msg) => problems.push(`${file}: ${msg}`);
      if (!model.uid || model.uid.length > 40) say(`uid ${model.uid}`);
      if (model.schemaVersion !== 39) say(`schemaVersion ${model.schemaVersion}`);
      if (model.time?.from !== 'now-1h' || model.time?.to !== 'now') say(`time ${JSON.stringify(model.time)}`);
      if (model.refresh !== '30s') say(`refresh ${model.refresh}`);
      if (!Array.isArray(model.tags) || !model.tags.includes('meshlens')) say(`tags ${JSON.stringify(model.tags)}`);
      if (model.id !== undefined && model.id !== null) say('has an instance id (provisioned dashboards must not)');
      const vars = variablesOf(model);
      const defined = [];
      for (const v of model.templating?.list ?? []) {
        if (v.type === 'query') {
          if (datasourceUid(v.datasource, vars) !== PROM_UID) say(`variable ${v.name}: data source ${JSON.stringify(v.datasource)}`);
          if (!parseLabelValues(variableQuery(v))) say(`variable ${v.name}: not a label_values() query: ${variableQuery(v)}`);
          for (const u of variablesUsed(variableQuery(v))) {
            if (!defined.includes(u)) say(`variable ${v.name} uses $${u}, which is not defined before it`);
          }
        } else if (v.type === 'datasource') {
          if (v.query !== 'prometheus' || !ds.has(v.current?.value)) say(`variable ${v.name}: ${JSON.stringify(v.current)}`);
        } else {
          say(`variable ${v.name}: type ${v.type}`);
        }
        defined.push(v.name);
      }
      const ids = new Set();
      for (const p of panelsOf(model)) {
        if (ids.has(p.id)) say(`panel id ${p.id} twice`);
        ids.add(p.id);
        if (!p.gridPos) say(`panel ${p.title}: no gridPos`);
        if (p.type === 'row') continue;
        if (!Array.isArray(p.targets) || p.targets.length === 0) {
          say(`panel ${p.title}: no targets`);
          continue;
        }
        const refIds = p.targets.map((t) => t.refId);
        if (new Set(refIds).size !== refIds.length) say(`panel ${p.title}: refIds ${refIds}`);
        for (const t of p.targets) {
          const uid = datasourceUid(t.datasource ?? p.datasource, vars);
          if (!ds.has(uid)) say(`panel ${p.title} ${t.refId}: data source ${JSON.stringify(t.datasource ?? p.datasource)} is not provisioned`);
          else if (ds.get(uid).type === 'prometheus' && !t.expr) say(`panel ${p.title} ${t.refId}: no expr`);
          const text = JSON.stringify(t) + JSON.stringify(p.title);
          // ($1 is label_replace's capture reference; Grafana leaves names it does not know.)
          for (const u of variablesUsed(text)) if (!vars.has(u) && !BUILTINS.has(u) && !/^\d+$/.test(u)) say(`panel ${p.title}: $${u} is not a variable`);
        }
        // Dashboard links inside panels must name dashboards that exist.
        for (const m of JSON.stringify(p).matchAll(/\/d\/([A-Za-z0-9_-]+)/g)) {
          if (!uids.includes(m[1])) say(`panel ${p.title}: link to unknown dashboard ${m[1]}`);
        }
      }
    }
    assert.deepEqual(problems, []);
  });
});

// ------------------------------------------------------------ against meshlens

// Bookinfo traffic: ok, error (ratings answers 500) and shared-span variants.
const TRAFFIC = [
  ...[1, 2, 3, 4, 5, 6].map((n) => bookinfoTrace(n, 'ok')),
  ...[7, 8].map((n) => bookinfoTrace(n, 'error')),
  ...[9, 10].map((n) => bookinfoTrace(n, 'shared')),
];

/**
 * Scrapes /metrics and imports meshlens's own families (meshlens_*,
 * process_*) with the labels a Prometheus scrape adds; the derived mesh
 * families are left out, as they are stored already.
 */
async function importHealth(url, instanceLabel) {
  const scrape = await request(url, '/metrics');
  assert.equal(scrape.status, 200);
  const own = /^(?:# (?:HELP|TYPE) )?(meshlens_|process_)/;
  const text = scrape.text
    .split('\n')
    .filter((l) => own.test(l))
    .join('\n');
  const q = `?extra_label=job=meshlens&extra_label=instance=${encodeURIComponent(instanceLabel)}`;
  const r = await request(url, `/api/v1/import/prometheus${q}`, {
    method: 'POST',
    headers: { 'Content-Type': 'text/plain; version=0.0.4' },
    body: `${text}\n`,
  });
  assert.equal(r.status, 204, r.text);
  return text;
}

/**
 * What the health dashboard's panels show: one refused request of each kind
 * (a Zipkin span with a short trace id, an OTLP JSON point without a time,
 * a text import broken on its second line), one accepted OTLP point, and a
 * query of each endpoint.
 */
async function exerciseHealth(url, round) {
  const badSpan = [{ traceId: 'abc', id: '0000000000000001', name: 'bad', timestamp: 1, duration: 1 }];
  let r = await request(url, '/api/v2/spans', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(badSpan) });
  assert.equal(r.status, 400, r.text);
  const ns = String(BigInt(Math.floor(Date.now() / 1000)) * 1_000_000_000n);
  const points = {
    resourceMetrics: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'dashboards-test' } }] },
        scopeMetrics: [
          {
            metrics: [
              { name: 'dashboards.ok', gauge: { dataPoints: [{ timeUnixNano: ns, asDouble: round }] } },
              { name: 'dashboards.bad', gauge: { dataPoints: [{ timeUnixNano: '0', asDouble: 1 }] } },
            ],
          },
        ],
      },
    ],
  };
  r = await request(url, '/v1/metrics', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(points) });
  assert.equal(r.status, 200, r.text);
  r = await request(url, '/api/v1/import/prometheus', { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'dashboards_ok 1\nnot a sample line\n' });
  assert.equal(r.status, 400, r.text);
  const now = Math.floor(Date.now() / 1000);
  for (const [endpoint, params] of [
    ['/api/v1/query', { query: 'sum(istio_requests_total)' }],
    ['/api/v1/query_range', { query: 'sum(istio_requests_total)', start: String(now - 60), end: String(now), step: '15' }],
  ]) {
    r = await request(url, `${endpoint}?${new URLSearchParams(params)}`);
    assert.equal(r.status, 200, r.text);
  }
}

/** A Prometheus API call as Grafana makes it; returns the parsed answer and the request line. */
async function promCall(url, endpoint, params, method) {
  const body = new URLSearchParams(params).toString();
  const r =
    method === 'GET'
      ? await request(url, `${endpoint}?${body}`, { headers: { 'User-Agent': 'Grafana/11.3.0' } })
      : await request(url, endpoint, {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'User-Agent': 'Grafana/11.3.0' },
          body,
        });
  let json = null;
  try {
    json = JSON.parse(r.text);
  } catch {
    // reported below
  }
  return { status: r.status, json, text: r.text, line: `${method} ${endpoint} ${params.query ?? ''}` };
}

/** Whether a query answer holds at least one series with a non-NaN value. */
function hasData(json) {
  const res = json?.data?.result;
  if (!Array.isArray(res)) return false;
  if (json.data.resultType === 'scalar') return !Number.isNaN(Number(res[1]));
  return res.some((s) => (s.values ?? [s.value]).some((v) => v && !Number.isNaN(Number(v[1]))));
}

describe('every dashboard panel against a real meshlens with Bookinfo traffic', () => {
  let ml;
  const srv = () => ml;
  const ds = provisionedDatasources();
  const prom = ds.get(PROM_UID);
  const scrapeS = Number(/^(\d+)s$/.exec(prom.jsonData.timeInterval)[1]);
  let tc; // the time context all dashboards are evaluated at
  let healthText = '';

  before(async () => {
    ml = await startMeshlens({ args: ['--aggregation.interval=1s', '--aggregation.service-graph.wait=2s'] });
    await postBookinfoTraces(ml.url, TRAFFIC);
    // Wait (bounded) until the flushes hold the traffic: every hop and the
    // gateway's expired root edge.
    const want = [
      ['sum(istio_requests_total{reporter="destination", destination_workload="ratings-v1"})', TRAFFIC.length],
      ['sum(traces_spanmetrics_calls_total{service="ratings.default"})', TRAFFIC.length],
      ['sum(traces_service_graph_request_total{client="user"})', TRAFFIC.length],
    ];
    for (const [q, n] of want) {
      let got;
      for (let i = 0; i < POLLS; i++) {
        got = await instant(ml.url, q);
        if (got.length === 1 && Number(got[0].value[1]) === n) break;
        await sleep(POLL_MS);
      }
      assert.deepEqual(got.map((s) => Number(s.value[1])), [n], `${q} never reached ${n}`);
    }
    // Two imports of the health families, 1.5 s apart, so rate() has two
    // samples; the collector is exercised before each, so that every
    // series exists in both and grows in between.
    const inst = ml.url.replace('http://', '');
    await exerciseHealth(ml.url, 1);
    await importHealth(ml.url, inst);
    await sleep(1500);
    await exerciseHealth(ml.url, 2);
    healthText = await importHealth(ml.url, inst);
    // Grafana floors `end` to a multiple of the step: wait (at most one step)
    // until that floor is after the samples just written.
    const first = Date.now() / 1000;
    for (let i = 0; i < (scrapeS + 2) * 4; i++) {
      tc = timeContext(Date.now() / 1000, scrapeS);
      if (tc.end > first + 1) break;
      await sleep(POLL_MS);
    }
    assert.ok(tc.end > first + 1, 'no step boundary after the traffic');
  });

  after(async () => {
    if (!ml) return;
    const result = await ml.cleanup();
    assert.equal(exitProblem(ml, result), null);
  });

  it('passes Grafana\'s data source health checks', logged(srv, async () => {
    const health = await promCall(ml.url, '/api/v1/query', { query: '1+1', time: '4' }, 'GET');
    assert.equal(health.status, 200);
    assert.notEqual(health.json.status, 'error');
    assert.ok(health.json.data.resultType);
    const build = (await request(ml.url, '/api/v1/status/buildinfo')).json();
    assert.equal(typeof build.data.version, 'string');
    const services = (await request(ml.url, '/api/services')).json();
    assert.ok(services.data.length > 0, 'the Jaeger data source needs a non-empty service list');
  }));

  it('reads only health metrics that meshlens exposes and documents', logged(srv, async () => {
    const model = DASHBOARDS.find((d) => d.model.uid === 'meshlens-health').model;
    const exprs = panelsOf(model)
      .flatMap((p) => p.targets ?? [])
      .map((t) => t.expr ?? '')
      .join('\n');
    const docs = readFileSync(path.join(REPO, 'docs/METRICS.md'), 'utf8') + readFileSync(path.join(REPO, 'docs/MESH_METRICS.md'), 'utf8');
    const names = new Set([...exprs.matchAll(/\b((?:meshlens|process)_[a-z_]+)/g)].map((m) => m[1]));
    assert.ok(names.size > 10, [...names].join(', '));
    for (const n of names) {
      const family = n.replace(/_(bucket|sum|count)$/, '');
      assert.match(healthText, new RegExp(`^# TYPE ${family} `, 'm'), `${family} is not on /metrics`);
      assert.match(healthText, new RegExp(`^${n}[{ ]`, 'm'), `${n} has no sample on /metrics after the exercise`);
      assert.ok(docs.includes(`\`${family}\``), `${family} is not documented in docs/METRICS.md or docs/MESH_METRICS.md`);
    }
  }));

  // Each dashboard twice: as it opens (multi-value variables on "All", which
  // sends their allValue), and with every value of them ticked (a regex
  // alternation of escaped values).
  for (const { file, model } of DASHBOARDS) for (const everyValue of [false, true]) {
    const how = everyValue ? 'every value of each multi-value variable' : 'as it opens';
    it(`${model.title} (${file}), ${how}: every variable and panel query answers, and the traffic fills the panels`, logged(srv, async () => {
      const vars = variablesOf(model);
      const chosen = new Map();
      const failures = [];
      const empty = [];
      const pick = PICK[model.uid] ?? {};
      // Variables in order, each one's query interpolated with the ones before.
      for (const v of model.templating?.list ?? []) {
        if (v.type === 'datasource') {
          chosen.set(v.name, v.current.value);
          continue;
        }
        const { selector, label } = parseLabelValues(variableQuery(v));
        // Metadata calls: whole seconds, start floored to the minute.
        const params = { start: String(Math.floor((tc.end - RANGE_S) / 60) * 60), end: String(Math.ceil(tc.end)) };
        if (selector) params['match[]'] = interpolate(selector, vars, chosen, tc);
        const r = await request(ml.url, `/api/v1/label/${label}/values?${new URLSearchParams(params)}`);
        const values = r.json().data;
        assert.equal(r.status, 200, `variable ${v.name}: ${r.text}`);
        assert.ok(values.length > 0, `variable ${v.name}: ${variableQuery(v)} -> no values (match[]=${params['match[]']})`);
        let value;
        if (pick[v.name] !== undefined) {
          assert.ok(values.includes(pick[v.name]), `variable ${v.name}: ${pick[v.name]} not in ${values}`);
          value = pick[v.name];
        } else if (v.multi && everyValue) {
          value = values;
        } else if (v.includeAll && [].concat(v.current?.value)[0] === '$__all') {
          // Grafana sends the allValue, or without one every value.
          value = v.allValue !== undefined && v.allValue !== null ? '$__all' : values;
        } else if (values.includes(v.current?.value)) {
          value = v.current.value;
        } else {
          value = values[0];
        }
        chosen.set(v.name, value);
      }
      let ran = 0;
      for (const p of panelsOf(model)) {
        if (p.type === 'row') continue;
        for (const t of p.targets) {
          const key = `${model.uid} / ${p.title} / ${t.refId}`;
          const uid = datasourceUid(t.datasource ?? p.datasource, vars);
          if (uid === JAEGER_UID) {
            let res;
            if (t.queryType === 'dependencyGraph') {
              const endTs = tc.end * 1000;
              res = await request(ml.url, `/api/dependencies?endTs=${endTs}&lookback=${RANGE_S * 1000}`);
            } else {
              const params = { service: interpolate(t.service, vars, chosen, tc), limit: String(t.limit ?? 20), start: String((tc.end - RANGE_S) * 1e6), end: String(tc.end * 1e6), lookback: 'custom' };
              if (t.operation) params.operation = interpolate(t.operation, vars, chosen, tc);
              res = await request(ml.url, `/api/traces?${new URLSearchParams(params)}`);
            }
            ran++;
            const body = res.status === 200 ? res.json() : null;
            if (!body || !Array.isArray(body.data)) failures.push(`${key}: Jaeger ${res.status} ${res.text.slice(0, 300)}`);
            else if (body.data.length === 0 && !(key in EMPTY_OK)) empty.push(`${key}: Jaeger ${t.queryType} answered no data`);
            continue;
          }
          const query = interpolate(t.expr, vars, chosen, tc);
          if (/\$/.test(query.replace(/"[^"]*"/g, ''))) failures.push(`${key}: not fully interpolated: ${query}`);
          const calls = [
            ['/api/v1/query_range', { query, start: String(tc.start), end: String(tc.end), step: String(tc.step) }, 'GET'],
            ['/api/v1/query_range', { query, start: String(tc.start), end: String(tc.end), step: String(tc.step) }, 'POST'],
          ];
          if (t.instant) calls.push(['/api/v1/query', { query, time: String(tc.end) }, prom.jsonData.httpMethod]);
          if (VERBOSE) console.log(`${key}\n  ${query}`);
          const answers = [];
          for (const [endpoint, params, method] of calls) {
            const a = await promCall(ml.url, endpoint, params, method);
            ran++;
            answers.push(a);
            if (a.status !== 200 || a.json?.status !== 'success') {
              failures.push(`${key}: ${a.line} -> ${a.status} ${a.text.slice(0, 300)}`);
            }
          }
          if (answers[0].json && answers[1].json) {
            assert.deepEqual(answers[1].json.data, answers[0].json.data, `${key}: GET and POST differ`);
          }
          if (answers.every((a) => a.json?.status === 'success') && !answers.every((a) => hasData(a.json)) && !(key in EMPTY_OK)) {
            empty.push(`${key}: no data: ${query}`);
          }
          // A node graph takes its nodes and edges frames by these field names.
          if (p.type === 'nodeGraph' && t.instant) {
            const need = { nodes: ['id', 'title'], edges: ['id', 'source', 'target'] }[t.refId] ?? [];
            for (const s of answers[answers.length - 1].json?.data?.result ?? []) {
              for (const f of need) if (!s.metric[f]) failures.push(`${key}: node graph frame without ${f}: ${JSON.stringify(s.metric)}`);
            }
          }
        }
      }
      assert.ok(ran > 0);
      assert.deepEqual(failures, [], 'queries meshlens did not answer with success');
      assert.deepEqual(empty, [], 'panels the Bookinfo traffic should fill came back empty');
    }));
  }

  it('answers the Jaeger data source\'s trace-to-metrics links for a span of reviews', logged(srv, async () => {
    const t2m = ds.get(JAEGER_UID).jsonData.tracesToMetrics;
    // The span as Grafana's trace view has it: the Jaeger API's span with its process.
    const trace = (await request(ml.url, `/api/traces/${TRAFFIC[0].traceId}`)).json().data[0];
    const span = trace.spans.find((s) => trace.processes[s.processID].serviceName === 'reviews.default' && s.tags.some((t) => t.key === 'span.kind' && t.value === 'server'));
    assert.ok(span, 'no server span of reviews.default in the trace');
    const process = trace.processes[span.processID];
    // public/app/features/explore/TraceView/createSpanLink.tsx, buildMetricsQuery().
    const spanTags = [...(process.tags ?? []), ...span.tags];
    const labels = t2m.tags.flatMap((tag) => {
      const v = spanTags.find((t) => t.key === tag.key)?.value;
      return v ? [`${tag.value || tag.key}="${v}"`] : [];
    });
    assert.equal(labels.length, t2m.tags.length, `span tags ${JSON.stringify(span.tags)}`);
    for (const q of t2m.queries) {
      const query =
        q.query === undefined
          ? `histogram_quantile(0.5, sum(rate(traces_spanmetrics_latency_bucket{service="${process.serviceName}"}[5m])) by (le))`
          : q.query.replace(/\$\$/g, '$').replace(/\$__tags/g, labels.join(', '));
      const start = Math.floor(span.startTime / 1e6) - 300;
      const a = await promCall(ml.url, '/api/v1/query_range', { query, start: String(start), end: String(start + 600), step: '15' }, 'POST');
      assert.equal(a.status, 200, a.text);
      assert.ok(hasData(a.json), `${q.name}: no data: ${query}`);
    }
  }));
});
