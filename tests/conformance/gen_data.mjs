// gen_data.mjs - the data set of the PromQL conformance suite: two hours of
// samples every 15 s, shaped like what a Bookinfo mesh under Istio, Tempo
// span metrics, the OpenTelemetry spanmetrics connector and Tempo's service
// graphs produce, plus series made to hit PromQL's edge cases (NaN, ±Inf,
// negative gauges, counter resets, series that start late, stop early or
// pause for longer than the 5 m lookback, names with colons, escaped label
// values, two metrics with the same labels but different names, histograms
// with non-monotonic buckets or no +Inf bucket).
//
// Everything is a pure function of SEED: the same bytes on every run, so a
// failing query can be replayed by hand. The output is OpenMetrics text with
// explicit timestamps in seconds (ms precision), one series after the other,
// which `promtool tsdb create-blocks-from openmetrics` and meshlens's
// POST /api/v1/import/prometheus both read. Samples carry no # TYPE lines:
// PromQL does not look at metric types.
//
// Usage as a program: node gen_data.mjs <out.txt>

import { writeFileSync } from 'node:fs';

import { prng } from '../integration/lib/prng.mjs';

/** Start of the data (2024-01-01T00:00:00Z, on a 2 h block boundary). */
export const T0_MS = 1704067200000;
/** Scrape interval and length of the data. */
export const STEP_MS = 15000;
export const SPAN_MS = 2 * 3600 * 1000;
export const SEED = 0x5eed4;

/**
 * Timestamp text in seconds with ms precision such that both readers turn it
 * back into exactly `ms`: Prometheus truncates (int64(s * 1000)), meshlens
 * rounds; a value whose product lands just below the integer is moved by 1 ms.
 */
function tsText(ms) {
  for (let m = ms; ; m++) {
    const s = `${Math.floor(m / 1000)}.${String(m % 1000).padStart(3, '0')}`;
    const back = Number(s) * 1000;
    if (Math.trunc(back) === m && Math.round(back) === m) return { s, ms: m };
  }
}

function valueText(v) {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function escapeLabel(v) {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function seriesText(labels) {
  const { __name__: name, ...rest } = labels;
  const parts = Object.entries(rest)
    .filter(([, v]) => v !== '')
    .map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length ? `${name}{${parts.join(',')}}` : name;
}

/** Scrape times of a series: every STEP_MS from T0 plus a per-series offset and jitter. */
function scrapeTimes(rnd, { from = 0, to = SPAN_MS, offset, jitter = 0, gaps = [] }) {
  const out = [];
  for (let t = from; t <= to; t += STEP_MS) {
    if (gaps.some(([a, b]) => t >= a && t < b)) continue;
    const j = jitter ? Math.floor(rnd() * (2 * jitter + 1)) - jitter : 0;
    out.push(T0_MS + t + offset + j);
  }
  return out;
}

const MIN = 60000;

// Envoy's default buckets, as Istio uses them (ms).
const ENVOY_BUCKETS = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];
const BYTES_BUCKETS = [1, 10, 100, 1000, 10000, 100000, 1000000, 10000000];
// Tempo span metrics: exponential from 0.002 s x2, 14 buckets.
const TEMPO_BUCKETS = Array.from({ length: 14 }, (_, i) => 0.002 * 2 ** i);
// OpenTelemetry spanmetrics connector defaults (ms).
const OTEL_BUCKETS = [2, 4, 6, 8, 10, 50, 100, 200, 400, 800, 1000, 1400, 2000, 5000, 10000, 15000];
// Tempo service graphs: exponential from 0.1 s x2, 8 buckets.
const SG_BUCKETS = Array.from({ length: 8 }, (_, i) => 0.1 * 2 ** i);

function leText(b) {
  return String(b);
}

/** erf, for a log-normal latency distribution's CDF (Abramowitz-Stegun 7.1.26). */
function erf(x) {
  const s = Math.sign(x);
  const ax = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * ax);
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-ax * ax);
  return s * y;
}
function lognormCdf(x, median, sigma) {
  if (x <= 0) return 0;
  return 0.5 * (1 + erf(Math.log(x / median) / (sigma * Math.SQRT2)));
}

// Bookinfo: the workloads and the edges between them.
const NS = 'default';
function wl(app, version, ns = NS) {
  return { app, version, workload: version ? `${app}-${version}` : app, ns };
}
const GATEWAY = { app: 'istio-ingressgateway', version: 'unknown', workload: 'istio-ingressgateway', ns: 'istio-system' };
const UNKNOWN = { app: 'unknown', version: 'unknown', workload: 'unknown', ns: 'unknown' };
const PRODUCTPAGE = wl('productpage', 'v1');
const DETAILS = wl('details', 'v1');
const REVIEWS1 = wl('reviews', 'v1');
const REVIEWS2 = wl('reviews', 'v2');
const REVIEWS3 = wl('reviews', 'v3');
const RATINGS = wl('ratings', 'v1');

function principal(w) {
  if (w === UNKNOWN) return 'unknown';
  const sa = w === GATEWAY ? 'istio-ingressgateway-service-account' : `bookinfo-${w.app}`;
  return `spiffe://cluster.local/ns/${w.ns}/sa/${sa}`;
}

/** Istio's standard labels, in Istio's order. */
function istioLabels(name, reporter, src, dst, code, extra = {}) {
  const mtls = src !== UNKNOWN;
  return {
    __name__: name,
    reporter,
    source_workload: src.workload,
    source_workload_namespace: src.ns,
    source_principal: mtls ? principal(src) : 'unknown',
    source_app: src.app,
    source_version: src.version,
    source_canonical_service: src.app,
    source_canonical_revision: src === UNKNOWN ? 'latest' : src.version,
    source_cluster: 'Kubernetes',
    destination_workload: dst.workload,
    destination_workload_namespace: dst.ns,
    destination_principal: mtls ? principal(dst) : 'unknown',
    destination_app: dst.app,
    destination_version: dst.version,
    destination_service: `${dst.app}.${dst.ns}.svc.cluster.local`,
    destination_service_name: dst.app,
    destination_service_namespace: dst.ns,
    destination_canonical_service: dst.app,
    destination_canonical_revision: dst.version,
    destination_cluster: 'Kubernetes',
    request_protocol: 'http',
    response_flags: code === '503' ? 'UF' : '-',
    connection_security_policy: reporter === 'source' ? 'unknown' : mtls ? 'mutual_tls' : 'none',
    response_code: code,
    grpc_response_status: '',
    ...extra,
  };
}

// Each edge: source, destination, response code, requests per second, median
// latency (ms), and its life (late start, early stop, pause, counter reset).
const EDGES = [
  { src: GATEWAY, dst: PRODUCTPAGE, code: '200', rps: 12, med: 40, hist: true },
  { src: PRODUCTPAGE, dst: DETAILS, code: '200', rps: 11.5, med: 3, hist: true },
  { src: PRODUCTPAGE, dst: DETAILS, code: '404', rps: 0.2, med: 2, to: 70 * MIN },
  { src: PRODUCTPAGE, dst: REVIEWS1, code: '200', rps: 4, med: 8, hist: true },
  { src: PRODUCTPAGE, dst: REVIEWS2, code: '200', rps: 4, med: 18, hist: true, resetAt: 50 * MIN },
  { src: PRODUCTPAGE, dst: REVIEWS3, code: '200', rps: 3.5, med: 25, hist: true },
  { src: REVIEWS2, dst: RATINGS, code: '200', rps: 4, med: 2, hist: true },
  { src: REVIEWS3, dst: RATINGS, code: '200', rps: 3, med: 2.5 },
  { src: REVIEWS3, dst: RATINGS, code: '503', rps: 0.5, med: 900, hist: true, from: 40 * MIN },
  { src: UNKNOWN, dst: PRODUCTPAGE, code: '200', rps: 0.7, med: 45, gaps: [[55 * MIN, 68 * MIN]], reporters: ['destination'] },
];

/**
 * Builds every series: an array of {labels, points: [[t_ms, value], ...]}.
 */
export function buildSeries(seed = SEED) {
  const rnd = prng(seed);
  const out = [];
  const add = (labels, points) => out.push({ labels, points });
  let offsetSeed = 0;
  const offset = () => (offsetSeed++ * 997) % 15000;

  for (const e of EDGES) {
    for (const reporter of e.reporters ?? ['source', 'destination']) {
      const times = scrapeTimes(rnd, { from: e.from ?? 0, to: e.to ?? SPAN_MS, offset: offset(), jitter: 40, gaps: e.gaps ?? [] });
      const reqLabels = istioLabels('istio_requests_total', reporter, e.src, e.dst, e.code);
      const reqPts = [];
      const withHist = e.hist && reporter === 'destination';
      const buckets = ENVOY_BUCKETS.map(() => []);
      const inf = [];
      const sum = [];
      const bytesBuckets = BYTES_BUCKETS.map(() => []);
      const bytesInf = [];
      const bytesSum = [];
      let count = 0;
      let cum = ENVOY_BUCKETS.map(() => 0);
      let lsum = 0;
      let bcum = BYTES_BUCKETS.map(() => 0);
      let bsum = 0;
      let bcount = 0;
      let prevT = null;
      for (const t of times) {
        if (e.resetAt !== undefined && prevT !== null && prevT - T0_MS < e.resetAt && t - T0_MS >= e.resetAt) {
          count = 0;
          cum = cum.map(() => 0);
          lsum = 0;
        }
        const dt = prevT === null ? 0 : (t - prevT) / 1000;
        prevT = t;
        const n = Math.round(e.rps * dt * (0.7 + 0.6 * rnd()));
        count += n;
        reqPts.push([t, count]);
        if (withHist) {
          const med = e.med * (0.8 + 0.4 * rnd());
          let prev = 0;
          for (let i = 0; i < ENVOY_BUCKETS.length; i++) {
            const c = Math.max(prev, Math.round(n * lognormCdf(ENVOY_BUCKETS[i], med, 0.9)));
            cum[i] += c;
            prev = c;
            buckets[i].push([t, cum[i]]);
          }
          lsum += Math.round(n * med * 1.5 * 1000) / 1000;
          inf.push([t, count]);
          sum.push([t, Math.round(lsum * 1000) / 1000]);
          if (e.dst === PRODUCTPAGE || e.dst === REVIEWS1) {
            let bp = 0;
            for (let i = 0; i < BYTES_BUCKETS.length; i++) {
              const c = Math.max(bp, Math.round(n * lognormCdf(BYTES_BUCKETS[i], 800, 1.2)));
              bcum[i] += c;
              bp = c;
              bytesBuckets[i].push([t, bcum[i]]);
            }
            bcount += n;
            bsum += n * 900;
            bytesInf.push([t, bcount]);
            bytesSum.push([t, bsum]);
          }
        }
      }
      add(reqLabels, reqPts);
      if (withHist) {
        const base = 'istio_request_duration_milliseconds';
        ENVOY_BUCKETS.forEach((b, i) => add(istioLabels(`${base}_bucket`, reporter, e.src, e.dst, e.code, { le: leText(b) }), buckets[i]));
        add(istioLabels(`${base}_bucket`, reporter, e.src, e.dst, e.code, { le: '+Inf' }), inf);
        add(istioLabels(`${base}_sum`, reporter, e.src, e.dst, e.code), sum);
        add(istioLabels(`${base}_count`, reporter, e.src, e.dst, e.code), inf);
        if (bytesInf.length) {
          const bb = 'istio_request_bytes';
          BYTES_BUCKETS.forEach((b, i) => add(istioLabels(`${bb}_bucket`, reporter, e.src, e.dst, e.code, { le: leText(b) }), bytesBuckets[i]));
          add(istioLabels(`${bb}_bucket`, reporter, e.src, e.dst, e.code, { le: '+Inf' }), bytesInf);
          add(istioLabels(`${bb}_sum`, reporter, e.src, e.dst, e.code), bytesSum);
          add(istioLabels(`${bb}_count`, reporter, e.src, e.dst, e.code), bytesInf);
        }
      }
    }
  }

  // TCP traffic to a database outside the mesh (ratings -> mongodb).
  {
    const times = scrapeTimes(rnd, { offset: offset(), jitter: 40 });
    const mongo = { app: 'mongodb', version: 'v1', workload: 'mongodb-v1', ns: NS };
    for (const [name, rate] of [['istio_tcp_sent_bytes_total', 2500], ['istio_tcp_received_bytes_total', 900], ['istio_tcp_connections_opened_total', 0.05]]) {
      let v = 0;
      const pts = times.map((t, i) => {
        if (i > 0) v += Math.round(rate * 15 * (0.5 + rnd()));
        return [t, v];
      });
      add(istioLabels(name, 'destination', RATINGS, mongo, '', { request_protocol: 'tcp', response_code: '', response_flags: '-' }), pts);
    }
  }

  // Tempo span metrics (seconds) and the OpenTelemetry spanmetrics connector (ms).
  const SPANS = [
    ['productpage', 'productpage.default.svc.cluster.local:9080/productpage', 'SPAN_KIND_SERVER', 6, 0.04],
    ['productpage', 'details.default.svc.cluster.local:9080/*', 'SPAN_KIND_CLIENT', 6, 0.004],
    ['productpage', 'reviews.default.svc.cluster.local:9080/*', 'SPAN_KIND_CLIENT', 6, 0.02],
    ['details', 'details.default.svc.cluster.local:9080/*', 'SPAN_KIND_SERVER', 6, 0.003],
    ['reviews', 'reviews.default.svc.cluster.local:9080/*', 'SPAN_KIND_SERVER', 6, 0.018],
    ['reviews', 'ratings.default.svc.cluster.local:9080/*', 'SPAN_KIND_CLIENT', 4, 0.003],
    ['ratings', 'ratings.default.svc.cluster.local:9080/*', 'SPAN_KIND_SERVER', 4, 0.002],
  ];
  for (const [svc, span, kind, rps, med] of SPANS) {
    for (const status of ['STATUS_CODE_UNSET', 'STATUS_CODE_ERROR']) {
      if (status === 'STATUS_CODE_ERROR' && svc !== 'reviews' && svc !== 'productpage') continue;
      const r = status === 'STATUS_CODE_ERROR' ? rps * 0.03 : rps;
      const times = scrapeTimes(rnd, { offset: offset(), jitter: 25, from: status === 'STATUS_CODE_ERROR' ? 20 * MIN : 0 });
      const tl = { service: svc, span_name: span, span_kind: kind, status_code: status };
      const ol = { service_name: svc, span_name: span, span_kind: kind, status_code: status };
      let count = 0;
      const calls = [];
      const tb = TEMPO_BUCKETS.map(() => []);
      const ob = OTEL_BUCKETS.map(() => []);
      const tc = TEMPO_BUCKETS.map(() => 0);
      const oc = OTEL_BUCKETS.map(() => 0);
      const infPts = [];
      const tsum = [];
      const osum = [];
      let s = 0;
      for (const t of times) {
        const n = calls.length ? Math.round(r * 15 * (0.6 + 0.8 * rnd())) : 0;
        count += n;
        calls.push([t, count]);
        const m = med * (0.7 + 0.6 * rnd());
        let p = 0;
        TEMPO_BUCKETS.forEach((b, i) => {
          const c = Math.max(p, Math.round(n * lognormCdf(b, m, 0.8)));
          p = c;
          tc[i] += c;
          tb[i].push([t, tc[i]]);
        });
        p = 0;
        OTEL_BUCKETS.forEach((b, i) => {
          const c = Math.max(p, Math.round(n * lognormCdf(b, m * 1000, 0.8)));
          p = c;
          oc[i] += c;
          ob[i].push([t, oc[i]]);
        });
        s += n * m;
        infPts.push([t, count]);
        tsum.push([t, s]);
        osum.push([t, s * 1000]);
      }
      add({ __name__: 'traces_spanmetrics_calls_total', ...tl }, calls);
      TEMPO_BUCKETS.forEach((b, i) => add({ __name__: 'traces_spanmetrics_latency_bucket', ...tl, le: leText(b) }, tb[i]));
      add({ __name__: 'traces_spanmetrics_latency_bucket', ...tl, le: '+Inf' }, infPts);
      add({ __name__: 'traces_spanmetrics_latency_sum', ...tl }, tsum);
      add({ __name__: 'traces_spanmetrics_latency_count', ...tl }, infPts);
      add({ __name__: 'traces_span_metrics_calls_total', ...ol }, calls);
      OTEL_BUCKETS.forEach((b, i) => add({ __name__: 'traces_span_metrics_duration_milliseconds_bucket', ...ol, le: leText(b) }, ob[i]));
      add({ __name__: 'traces_span_metrics_duration_milliseconds_bucket', ...ol, le: '+Inf' }, infPts);
      add({ __name__: 'traces_span_metrics_duration_milliseconds_sum', ...ol }, osum);
      add({ __name__: 'traces_span_metrics_duration_milliseconds_count', ...ol }, infPts);
    }
  }

  // Tempo service graph edges.
  const SG = [
    ['user', 'istio-ingressgateway', 'virtual_node', 12],
    ['istio-ingressgateway', 'productpage', '', 12],
    ['productpage', 'details', '', 11],
    ['productpage', 'reviews', '', 11],
    ['reviews', 'ratings', '', 7],
    ['ratings', 'mongodb', 'database', 7],
  ];
  for (const [client, server, ct, rps] of SG) {
    const times = scrapeTimes(rnd, { offset: offset(), jitter: 20 });
    const lab = { client, server, connection_type: ct };
    let total = 0;
    let failed = 0;
    const tp = [];
    const fp = [];
    const bc = SG_BUCKETS.map(() => 0);
    const bp = SG_BUCKETS.map(() => []);
    const inf = [];
    for (const t of times) {
      const n = tp.length ? Math.round(rps * 15 * (0.8 + 0.4 * rnd())) : 0;
      total += n;
      failed += server === 'reviews' ? Math.round(n * 0.05 * rnd()) : 0;
      tp.push([t, total]);
      fp.push([t, failed]);
      let p = 0;
      SG_BUCKETS.forEach((b, i) => {
        const c = Math.max(p, Math.round(n * lognormCdf(b, 0.15, 0.7)));
        p = c;
        bc[i] += c;
        bp[i].push([t, bc[i]]);
      });
      inf.push([t, total]);
    }
    add({ __name__: 'traces_service_graph_request_total', ...lab }, tp);
    if (server === 'reviews' || server === 'details') add({ __name__: 'traces_service_graph_request_failed_total', ...lab }, fp);
    SG_BUCKETS.forEach((b, i) => add({ __name__: 'traces_service_graph_request_server_seconds_bucket', ...lab, le: leText(b) }, bp[i]));
    add({ __name__: 'traces_service_graph_request_server_seconds_bucket', ...lab, le: '+Inf' }, inf);
    add({ __name__: 'traces_service_graph_request_server_seconds_count', ...lab }, inf);
  }

  // Gauges: sine waves, negative values, NaN, +Inf/-Inf, a step function.
  for (let i = 0; i < 6; i++) {
    const times = scrapeTimes(rnd, { offset: offset(), jitter: i % 2 ? 0 : 30 });
    const pts = times.map((t, k) => {
      let v = Math.round(1000 * (10 * Math.sin((k + i * 7) / 20) + (i - 2) * 3 + rnd())) / 1000;
      if (i === 3 && k % 37 === 5) v = NaN;
      if (i === 4 && k % 53 === 7) v = Infinity;
      if (i === 4 && k % 53 === 30) v = -Infinity;
      return [t, v];
    });
    add({ __name__: 'conf_gauge', job: 'conf', instance: `host-${i}:9100`, kind: i < 3 ? 'smooth' : 'odd' }, pts);
  }
  {
    const times = scrapeTimes(rnd, { offset: 0 });
    add({ __name__: 'conf_step', job: 'conf' }, times.map((t, k) => [t, Math.floor(k / 40) % 3]));
    add({ __name__: 'conf_big', job: 'conf' }, times.map((t, k) => [t, 1e15 + k * 1e3]));
    add({ __name__: 'conf_small', job: 'conf' }, times.map((t, k) => [t, (k % 9) * 1e-9]));
    add({ __name__: 'conf_int', job: 'conf', instance: 'a' }, times.map((t, k) => [t, k * 3]));
    add({ __name__: 'conf_int', job: 'conf', instance: 'b' }, times.map((t, k) => [t, 500 - k]));
    add({ __name__: 'conf_int', job: 'conf', instance: 'c' }, times.map((t, k) => [t, (k * 7) % 11]));
  }
  // A counter that resets several times, with an irregular scrape interval.
  {
    const pts = [];
    let v = 0;
    let t = T0_MS + 3000;
    for (let k = 0; t <= T0_MS + SPAN_MS; k++) {
      v = k % 97 === 96 ? Math.round(rnd() * 5) : v + Math.round(rnd() * 40);
      pts.push([t, v]);
      t += 10000 + Math.floor(rnd() * 15000);
    }
    add({ __name__: 'conf_resets_total', job: 'conf' }, pts);
  }
  // Up-like series: one target that disappears for 20 minutes and one that
  // only exists in the middle of the range.
  {
    const a = scrapeTimes(rnd, { offset: 1200, gaps: [[30 * MIN, 50 * MIN]] });
    add({ __name__: 'up', job: 'bookinfo', instance: 'productpage-v1:15020' }, a.map((t) => [t, 1]));
    const b = scrapeTimes(rnd, { offset: 2400, from: 25 * MIN, to: 95 * MIN });
    add({ __name__: 'up', job: 'bookinfo', instance: 'reviews-v3:15020' }, b.map((t, k) => [t, k % 50 === 10 ? 0 : 1]));
    const c = scrapeTimes(rnd, { offset: 3600 });
    add({ __name__: 'up', job: 'kubernetes-pods', instance: 'details-v1:15020' }, c.map((t) => [t, 1]));
  }
  // Recording-rule style names with colons.
  {
    const times = scrapeTimes(rnd, { offset: 500 });
    for (const dst of ['productpage', 'details', 'reviews']) {
      add({ __name__: 'namespace_workload:istio_requests:rate5m', namespace: NS, destination_workload: dst }, times.map((t, k) => [t, Math.round((5 + Math.sin(k / 30) + rnd()) * 1000) / 1000]));
    }
    add({ __name__: 'job:conf_int:sum', job: 'conf' }, times.map((t, k) => [t, k * 2 + 500]));
  }
  // Two metrics with the same labels: functions that drop the name collide.
  {
    const times = scrapeTimes(rnd, { offset: 700 });
    add({ __name__: 'conf_dup_a', job: 'conf', instance: 'x' }, times.map((t, k) => [t, k]));
    add({ __name__: 'conf_dup_b', job: 'conf', instance: 'x' }, times.map((t, k) => [t, 2 * k]));
  }
  // Escaped and non-ASCII label values.
  {
    const times = scrapeTimes(rnd, { offset: 900 });
    add({ __name__: 'conf_labels', path: '/api/v1/"quoted"', slash: 'a\\b', name: 'héllo wörld', multi: 'line1\nline2' }, times.map((t, k) => [t, k % 13]));
    add({ __name__: 'conf_labels', path: '/health', slash: 'plain', name: 'x', multi: 'one' }, times.map((t, k) => [t, k % 5]));
  }
  // A histogram with non-monotonic cumulative buckets and one without +Inf.
  {
    const times = scrapeTimes(rnd, { offset: 1100 });
    const les = ['0.1', '0.5', '1', '5', '+Inf'];
    les.forEach((le, i) => {
      add({ __name__: 'conf_bad_hist_bucket', job: 'conf', le }, times.map((t, k) => [t, k * (i + 1) + (i === 2 ? -2 * k : 0)]));
    });
    ['0.1', '1', '10'].forEach((le, i) => {
      add({ __name__: 'conf_noinf_hist_bucket', job: 'conf', le }, times.map((t, k) => [t, k * (i + 1)]));
    });
  }
  return out;
}

/** The OpenMetrics text of the series (ends with # EOF). */
export function openMetricsText(series) {
  const lines = [];
  for (const s of series) {
    const head = seriesText(s.labels);
    let last = -Infinity;
    for (const [t, v] of s.points) {
      const ts = tsText(t);
      if (ts.ms <= last) continue; // a nudge must not reorder samples
      last = ts.ms;
      lines.push(`${head} ${valueText(v)} ${ts.s}`);
    }
  }
  lines.push('# EOF');
  return lines.join('\n') + '\n';
}

/**
 * Splits OpenMetrics text into bodies of at most maxBytes (at series
 * boundaries when possible, always at line boundaries), each ending with
 * # EOF, for POST /api/v1/import/prometheus.
 */
export function chunkOpenMetrics(text, maxBytes) {
  const lines = text.split('\n').filter((l) => l && l !== '# EOF');
  const bodies = [];
  let cur = [];
  let size = 0;
  for (const l of lines) {
    if (size + l.length + 1 > maxBytes && cur.length) {
      bodies.push(cur.join('\n') + '\n# EOF\n');
      cur = [];
      size = 0;
    }
    cur.push(l);
    size += l.length + 1;
  }
  if (cur.length) bodies.push(cur.join('\n') + '\n# EOF\n');
  return bodies;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = process.argv[2];
  if (!out) {
    console.error('usage: node gen_data.mjs <out.txt>');
    process.exit(2);
  }
  const series = buildSeries();
  const text = openMetricsText(series);
  writeFileSync(out, text);
  console.log(`${series.length} series, ${text.split('\n').length - 2} samples, ${text.length} bytes -> ${out}`);
}
