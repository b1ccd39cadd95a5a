// mesh_metrics.test.mjs - spans become mesh metrics, end to end.
//
// Envoy-shaped Zipkin spans of Bookinfo traffic (lib/bookinfo.mjs: every hop
// has a CLIENT span on the caller's sidecar and a SERVER span on the
// callee's; "ok", "error" (ratings answers 500 with response flag URX) and
// "shared" (Envoy's shared span ids) variants), posted per sidecar as Envoy
// does, must produce exactly the expected Istio standard metrics, Tempo span
// metrics and service-graph edges:
//   - through meshlens's own PromQL API,
//   - through a real Prometheus server that scrapes meshlens's /metrics
//     every second,
//   - and after a restart of meshlens, counters continue where they were.
//
// Expected values are computed from the traffic plan below, not read back
// from meshlens. The label mapping is the one docs/MESH_METRICS.md documents.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startMeshlens, exitProblem, logged } from './lib/meshlens.mjs';
import { request } from './lib/http.mjs';
import { instant } from './lib/metrics.mjs';
import { prometheusPath, startPrometheus } from './lib/prometheus.mjs';
import { bookinfoTrace, postBookinfoTraces, PODS, SVC } from './lib/bookinfo.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const POLL_MS = 250;
const POLLS = 120; // 30 s at most for a value to show up

// The traffic: trace numbers must be unique across waves (they make the ids).
const WAVE1 = [
  ...[1, 2, 3, 4].map((n) => bookinfoTrace(n, 'ok')),
  ...[5, 6].map((n) => bookinfoTrace(n, 'error')),
  ...[7, 8, 9].map((n) => bookinfoTrace(n, 'shared')),
];
const WAVE2 = [bookinfoTrace(10, 'ok'), bookinfoTrace(11, 'error'), bookinfoTrace(12, 'shared')];

const WORKLOAD = {
  gateway: 'istio-ingressgateway',
  productpage: 'productpage-v1',
  details: 'details-v1',
  reviews: 'reviews-v2',
  ratings: 'ratings-v1',
};
// The four sidecar-to-sidecar hops of every trace: [caller, callee].
const HOPS = [
  ['gateway', 'productpage'],
  ['productpage', 'details'],
  ['productpage', 'reviews'],
  ['reviews', 'ratings'],
];

/** The istio_requests_total series (reduced to the labels below) -> count, for traces. */
function expectedRequests(traces) {
  const out = new Map();
  for (const t of traces) {
    for (const [from, to] of HOPS) {
      const failed = t.variant === 'error' && to === 'ratings';
      for (const reporter of ['source', 'destination']) {
        const key = istioKey({
          reporter,
          source_workload: WORKLOAD[from],
          source_workload_namespace: PODS[from].ns,
          source_canonical_service: PODS[from].app,
          source_canonical_revision: PODS[from].rev,
          destination_workload: WORKLOAD[to],
          destination_workload_namespace: PODS[to].ns,
          destination_canonical_service: PODS[to].app,
          destination_canonical_revision: PODS[to].rev,
          destination_service: `${to}.default.svc.cluster.local`,
          destination_service_name: to,
          destination_service_namespace: 'default',
          request_protocol: 'http',
          response_code: failed ? '500' : '200',
          response_flags: failed ? 'URX' : '-',
        });
        out.set(key, (out.get(key) ?? 0) + 1);
      }
    }
  }
  return out;
}

const ISTIO_LABELS = [
  'reporter',
  'source_workload',
  'source_workload_namespace',
  'source_canonical_service',
  'source_canonical_revision',
  'destination_workload',
  'destination_workload_namespace',
  'destination_canonical_service',
  'destination_canonical_revision',
  'destination_service',
  'destination_service_name',
  'destination_service_namespace',
  'request_protocol',
  'response_code',
  'response_flags',
];
const istioKey = (m) => ISTIO_LABELS.map((l) => `${l}=${m[l] ?? ''}`).join(',');

/** The same reduction of a PromQL vector result: key -> value. */
function resultMap(result, keyOf) {
  const out = new Map();
  for (const r of result) out.set(keyOf(r.metric), Number(r.value[1]));
  return out;
}

const sortedEntries = (m) => [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

/**
 * Polls query on url until keyOf-reduced result equals expected (a Map), or
 * fails with the last difference. Sidecar-to-sidecar hops only: the
 * gateway's own inbound side (a root SERVER span) is filtered out by the
 * query's selector where needed.
 */
async function eventually(url, query, expected, keyOf) {
  let got = new Map();
  for (let i = 0; i < POLLS; i++) {
    got = resultMap(await instant(url, query), keyOf);
    if (JSON.stringify(sortedEntries(got)) === JSON.stringify(sortedEntries(expected))) return got;
    await sleep(POLL_MS);
  }
  assert.deepEqual(sortedEntries(got), sortedEntries(expected), `${query} on ${url}`);
  return got;
}

const REQUESTS_Q = `sum by (${ISTIO_LABELS.join(', ')}) (istio_requests_total{source_workload!="unknown"})`;

describe('mesh metrics from Envoy spans', () => {
  let ml;
  let prom;
  const srv = () => ml;
  const args = ['--aggregation.interval=1s', '--aggregation.service-graph.wait=2s'];

  before(async () => {
    ml = await startMeshlens({ args });
  });
  after(async () => {
    if (prom) await prom.stop();
    if (!ml) return;
    const result = await ml.cleanup();
    assert.equal(exitProblem(ml, result), null);
  });

  it('turns every hop into istio_requests_total as both sidecars report it', logged(srv, async () => {
    await postBookinfoTraces(ml.url, WAVE1);
    await eventually(ml.url, REQUESTS_Q, expectedRequests(WAVE1), istioKey);
  }));

  it('records request durations in Envoy\'s buckets', logged(srv, async () => {
    // ratings answers in 4.2 ms (ok), 30 ms (error), 5 ms (shared): le="5" has ok+shared, le="50" all.
    const q = 'sum by (le) (istio_request_duration_milliseconds_bucket{reporter="destination", destination_workload="ratings-v1", le=~"1|5|10|50|\\\\+Inf"})';
    const n = { ok: 4, error: 2, shared: 3 };
    const expected = new Map([
      ['1', 0],
      ['5', n.ok + n.shared],
      ['10', n.ok + n.shared],
      ['50', n.ok + n.error + n.shared],
      ['+Inf', n.ok + n.error + n.shared],
    ]);
    await eventually(ml.url, q, expected, (m) => m.le);
    const sizes = 'sum(istio_response_bytes_count{reporter="source", destination_workload="details-v1"})';
    await eventually(ml.url, sizes, new Map([['', 9]]), () => '');
  }));

  it('derives Tempo span metrics per service, span kind and status', logged(srv, async () => {
    const q = 'sum by (service, span_kind, status_code) (traces_spanmetrics_calls_total{service="ratings.default"})';
    await eventually(
      ml.url,
      q,
      new Map([
        ['ratings.default|SPAN_KIND_SERVER|STATUS_CODE_UNSET', 7],
        ['ratings.default|SPAN_KIND_SERVER|STATUS_CODE_ERROR', 2],
      ]),
      (m) => `${m.service}|${m.span_kind}|${m.status_code}`,
    );
  }));

  it('pairs client and server spans into service-graph edges', logged(srv, async () => {
    const q = 'sum by (client, server) (traces_service_graph_request_total)';
    const expected = new Map([
      [`${SVC.gateway}>${SVC.productpage}`, 9],
      [`${SVC.productpage}>${SVC.details}`, 9],
      [`${SVC.productpage}>${SVC.reviews}`, 9],
      [`${SVC.reviews}>${SVC.ratings}`, 9],
      // The gateway's root SERVER span has no client: an edge from "user" once it expires.
      [`user>${SVC.gateway}`, 9],
    ]);
    await eventually(ml.url, q, expected, (m) => `${m.client}>${m.server}`);
    const failed = 'sum by (client, server) (traces_service_graph_request_failed_total)';
    await eventually(ml.url, failed, new Map([[`${SVC.reviews}>${SVC.ratings}`, 2]]), (m) => `${m.client}>${m.server}`);
    const lat = `sum(traces_service_graph_request_server_seconds_count{client="${SVC.reviews}", server="${SVC.ratings}"})`;
    await eventually(ml.url, lat, new Map([['', 9]]), () => '');
  }));

  it('answers Istio dashboard and Kiali queries over the derived series', logged(srv, async () => {
    // Istio Mesh dashboard, HTTP/GRPC workloads table: success rate by destination.
    const q =
      'sum(istio_requests_total{reporter="destination", destination_workload="ratings-v1", response_code!~"5.*"}) ' +
      '/ sum(istio_requests_total{reporter="destination", destination_workload="ratings-v1"})';
    await eventually(ml.url, q, new Map([['', 7 / 9]]), () => '');
    // Kiali's graph: request rate per edge (rate over a window covering the traffic), rounded, > 0.
    const kiali =
      'round(sum(rate(istio_requests_total{reporter="destination",destination_service_namespace="default"} [600s])) ' +
      'by (source_workload,destination_workload,response_code) > 0,0.001)';
    const res = await instant(ml.url, kiali);
    // (The gateway's own inbound side, from an unknown source, is not a hop of the plan.)
    const edges = res
      .filter((r) => r.metric.source_workload !== 'unknown')
      .map((r) => `${r.metric.source_workload}>${r.metric.destination_workload}:${r.metric.response_code}`)
      .sort();
    assert.deepEqual(edges, [
      'istio-ingressgateway>productpage-v1:200',
      'productpage-v1>details-v1:200',
      'productpage-v1>reviews-v2:200',
      'reviews-v2>ratings-v1:200',
      'reviews-v2>ratings-v1:500',
    ]);
  }));

  it('gives Istio\'s Mesh, Service and Workload dashboards and Kiali their exact numbers', logged(srv, async () => {
    // Every derived series starts with a 0 sample and all of them are written
    // at each flush's timestamp. Evaluated at the last flush T, rate(x[w]) is
    // exactly count/w as long as the traffic is inside the window (no
    // extrapolation at either end), so every panel below has an exact value.
    const ts = await instant(ml.url, 'max(timestamp(istio_requests_total))');
    const T = Number(ts[0].value[1]);
    // The raw samples (a range selector) give each series' first sample, the 0 one.
    const raw = await instant(ml.url, 'istio_requests_total[10m]', T);
    const first = Math.min(...raw.map((r) => Number(r.values[0][0])));
    assert.ok(raw.length > 0 && T - first < 50, `the traffic is inside the 1m window (T=${T}, first=${first})`);
    const n = { ok: 4, error: 2, shared: 3 };
    const all = n.ok + n.error + n.shared;
    // histogram_quantile over Envoy's buckets for ratings' server side: le=1 has 0, le=5 ok+shared.
    const q50 = 1 + (5 - 1) * ((0.5 * all) / (n.ok + n.shared));
    const q95 = 25 + (50 - 25) * ((0.95 * all - (n.ok + n.shared)) / n.error);
    const dest = (w) => `${w}.default.svc.cluster.local`;
    const cases = [
      // Istio Mesh dashboard: global request volume, success rate, 4xx and 5xx.
      ['round(sum(rate(istio_requests_total{reporter="source"}[1m])), 0.001)', { '': Math.round((4 * all * 1000) / 60) / 1000 }],
      [
        'sum(rate(istio_requests_total{reporter="source", response_code!~"5.*"}[1m])) / sum(rate(istio_requests_total{reporter="source"}[1m]))',
        { '': (4 * all - n.error) / (4 * all) },
      ],
      ['sum(rate(istio_requests_total{reporter="source", response_code=~"4.*"}[1m])) or vector(0)', { '': 0 }],
      ['sum(rate(istio_requests_total{reporter="source", response_code=~"5.*"}[1m]))', { '': n.error / 60 }],
      // Istio Service dashboard (service=reviews): client request volume and success rate.
      [`round(sum(rate(istio_requests_total{reporter="source",destination_service=~"${dest('reviews')}"}[1m])), 0.001)`, { '': Math.round((all * 1000) / 60) / 1000 }],
      [
        `sum(rate(istio_requests_total{reporter="source",destination_service=~"${dest('ratings')}",response_code!~"5.*"}[1m])) / sum(rate(istio_requests_total{reporter="source",destination_service=~"${dest('ratings')}"}[1m]))`,
        { '': (all - n.error) / all },
      ],
      // Istio Service dashboard: incoming requests by source and response code.
      [
        `round(sum(rate(istio_requests_total{connection_security_policy!="mutual_tls",destination_service=~"${dest('ratings')}",reporter="destination",source_workload=~"reviews-v2",source_workload_namespace=~"default"}[1m])) by (source_workload, source_workload_namespace, response_code), 0.001)`,
        { '200': Math.round(((all - n.error) * 1000) / 60) / 1000, '500': Math.round((n.error * 1000) / 60) / 1000 },
        (m) => m.response_code,
      ],
      // Istio Workload dashboard (ratings-v1): incoming request duration p50 and p95, in seconds.
      [
        '(histogram_quantile(0.50, sum(rate(istio_request_duration_milliseconds_bucket{reporter="destination",destination_workload="ratings-v1", destination_workload_namespace=~"default"}[1m])) by (le)) / 1000)',
        { '': q50 / 1000 },
      ],
      [
        '(histogram_quantile(0.95, sum(rate(istio_request_duration_milliseconds_bucket{reporter="destination",destination_workload="ratings-v1", destination_workload_namespace=~"default"}[1m])) by (le)) / 1000)',
        { '': q95 / 1000 },
      ],
      // Kiali's graph: request rates per workload edge, and the response time of one edge.
      [
        'round(sum(rate(istio_requests_total{reporter="destination",source_workload_namespace="default"} [600s])) by (source_workload,destination_workload) > 0,0.001)',
        {
          'productpage-v1>details-v1': Math.round((all * 1000) / 600) / 1000,
          'productpage-v1>reviews-v2': Math.round((all * 1000) / 600) / 1000,
          'reviews-v2>ratings-v1': Math.round((all * 1000) / 600) / 1000,
        },
        (m) => `${m.source_workload}>${m.destination_workload}`,
      ],
      [
        'round(histogram_quantile(0.95, sum(rate(istio_request_duration_milliseconds_bucket{reporter="destination",source_workload="reviews-v2",destination_workload="ratings-v1"} [600s])) by (le,source_workload,destination_workload)),0.001)',
        { 'reviews-v2>ratings-v1': Math.round(q95 * 1000) / 1000 },
        (m) => `${m.source_workload}>${m.destination_workload}`,
      ],
      // Kiali's error-rate edge filter, uppercase OR.
      [
        'sum(rate(istio_requests_total{reporter="destination",response_code=~"^[5].*"}[600s])) by (destination_workload) > 0 OR sum(rate(istio_requests_total{reporter="destination",response_code="0"}[600s])) by (destination_workload) > 0',
        { 'ratings-v1': n.error / 600 },
        (m) => m.destination_workload,
      ],
    ];
    for (const [q, want, keyOf = () => ''] of cases) {
      const got = resultMap(await instant(ml.url, q, T), keyOf);
      assert.deepEqual([...got.keys()].sort(), Object.keys(want).sort(), `series of ${q}`);
      for (const [k, v] of Object.entries(want)) {
        const g = got.get(k);
        assert.ok(Math.abs(g - v) <= 1e-9 * Math.max(1, Math.abs(v)), `${q} {${k}}: got ${g}, want ${v}`);
      }
    }
    // Grafana's variable query label_values(istio_requests_total{destination_workload_namespace=~"default"}, destination_workload).
    const r = await request(
      ml.url,
      `/api/v1/label/destination_workload/values?match[]=${encodeURIComponent('istio_requests_total{destination_workload_namespace=~"default"}')}`,
    );
    assert.deepEqual(r.json().data, ['details-v1', 'productpage-v1', 'ratings-v1', 'reviews-v2']);
  }));

  it('is scraped by a real Prometheus, which sees the same values', { skip: !prometheusPath() }, logged(srv, async () => {
    const target = ml.url.replace('http://', '');
    prom = await startPrometheus(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: meshlens
    scrape_interval: 1s
    static_configs:
      - targets: ['${target}']
`);
    await eventually(prom.url, REQUESTS_Q, expectedRequests(WAVE1), istioKey);
    await eventually(prom.url, 'up{job="meshlens"}', new Map([['', 1]]), () => '');
    const q = `sum by (client, server) (traces_service_graph_request_total{client="${SVC.reviews}"})`;
    await eventually(prom.url, q, new Map([[`${SVC.reviews}>${SVC.ratings}`, 9]]), (m) => `${m.client}>${m.server}`);
  }));

  it('keeps counters monotonic across a restart', logged(srv, async () => {
    const stopped = await ml.stop();
    assert.equal(exitProblem(ml, stopped), null);
    await ml.restart();
    // Nothing new yet: the counters still hold wave 1.
    await eventually(ml.url, REQUESTS_Q, expectedRequests(WAVE1), istioKey);
    await postBookinfoTraces(ml.url, WAVE2);
    await eventually(ml.url, REQUESTS_Q, expectedRequests([...WAVE1, ...WAVE2]), istioKey);
    // No sample of any istio counter ever went down.
    const resets = await instant(ml.url, 'sum(resets(istio_requests_total[10m]))');
    assert.ok(resets.length === 0 || Number(resets[0].value[1]) === 0, `counter resets: ${JSON.stringify(resets)}`);
  }));
});
