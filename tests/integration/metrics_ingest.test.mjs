// metrics_ingest.test.mjs - the metrics push path of the real binary:
// the OpenTelemetry JS metrics SDK (OTLP protobuf, cumulative and delta
// temporality) pushing a counter, an up-down counter, an observable gauge
// and a histogram; Prometheus text import with timestamps and extra_label;
// every kind of bad input answered with the right 4xx and a message naming
// the problem, the server staying healthy; and kill -9 right after
// acknowledged imports, restart, data still there. The stored series are
// read back through /api/v1/series and /api/v1/label/__name__/values, and
// values through /api/v1/query when the binary serves them (readApi()).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { metrics } from '@opentelemetry/api';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { AggregationTemporalityPreference } from '@opentelemetry/exporter-metrics-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';

import { startMeshlens, exitProblem, logged } from './lib/meshlens.mjs';
import { request } from './lib/http.mjs';
import { readApi, series, labelValues, instant, seriesKeys } from './lib/metrics.mjs';

const NOW_S = Math.floor(Date.now() / 1000);

/** A MeterProvider exporting OTLP protobuf to meshlens; flushed by hand. */
function sdk(url, service, instance, temporality) {
  const exporter = new OTLPMetricExporter({
    url: `${url}/v1/metrics`,
    temporalityPreference: temporality,
  });
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60000 });
  const provider = new MeterProvider({
    resource: resourceFromAttributes({ 'service.name': service, 'service.instance.id': instance }),
    readers: [reader],
  });
  return { provider, meter: provider.getMeter('integ.metrics', '1.0.0') };
}

/** Records the four instruments with fixed values; returns what a reader should see. */
function record(meter, prefix, round) {
  const counter = meter.createCounter(`${prefix}.requests`);
  const updown = meter.createUpDownCounter(`${prefix}.queue.depth`);
  const hist = meter.createHistogram(`${prefix}.latency`, {
    advice: { explicitBucketBoundaries: [10, 100, 1000] },
  });
  let temp = 20;
  meter.createObservableGauge(`${prefix}.temperature`).addCallback((r) => r.observe(temp, { room: 'a' }));
  return async (provider) => {
    for (let k = 0; k < round; k++) {
      counter.add(3, { route: '/x' });
      updown.add(5);
      updown.add(-2);
      hist.record(5);
      hist.record(50);
      hist.record(5000);
      temp += 1;
      await provider.forceFlush();
    }
  };
}

/** POSTs a Prometheus text body to the import endpoint. */
function importText(url, body, query = '', contentType = 'text/plain; version=0.0.4') {
  return request(url, `/api/v1/import/prometheus${query}`, {
    method: 'POST',
    headers: { 'Content-Type': contentType },
    body,
  });
}

async function assertHealthy(m) {
  const r = await request(m.url, '/-/healthy');
  assert.equal(r.status, 200, 'server healthy after the bad input');
}

describe('metrics ingest: OpenTelemetry SDK, text import, bad input, crash', () => {
  let m;
  let api;

  before(async () => {
    m = await startMeshlens();
    api = await readApi(m.url);
    if (!api.series) console.error('metrics_ingest: /api/v1/series absent: series assertions skipped');
    if (!api.query) console.error('metrics_ingest: /api/v1/query absent: value assertions skipped');
  });

  after(async () => {
    if (!m) return;
    const result = await m.cleanup();
    assert.equal(exitProblem(m, result), null);
  });

  for (const [label, temporality] of [
    ['cumulative', AggregationTemporalityPreference.CUMULATIVE],
    ['delta', AggregationTemporalityPreference.DELTA],
  ]) {
    it(
      `OTel SDK, ${label} temporality: counter, up-down counter, gauge, histogram`,
      logged(
        () => m,
        async () => {
          const prefix = `sdk_${label}`;
          const { provider, meter } = sdk(m.url, `svc-${label}`, `inst-${label}`, temporality);
          // Three flushes: a delta counter must accumulate to 9, not end at 3.
          await record(meter, prefix, 3)(provider);
          await provider.shutdown();
          if (!api.series) return;

          const names = await labelValues(m.url, '__name__');
          for (const n of [
            `${prefix}_requests_total`,
            `${prefix}_queue_depth`,
            `${prefix}_temperature`,
            `${prefix}_latency_bucket`,
            `${prefix}_latency_sum`,
            `${prefix}_latency_count`,
          ]) {
            assert.ok(names.includes(n), `${n} in __name__ values: ${JSON.stringify(names)}`);
          }
          const counter = await series(m.url, `${prefix}_requests_total`);
          assert.equal(counter.length, 1, JSON.stringify(counter));
          assert.equal(counter[0].job, `svc-${label}`);
          assert.equal(counter[0].instance, `inst-${label}`);
          assert.equal(counter[0].route, '/x');
          const les = (await series(m.url, `${prefix}_latency_bucket`)).map((s) => s.le).sort();
          assert.deepEqual(les, ['+Inf', '10', '100', '1000'].sort());
          const gauge = await series(m.url, `${prefix}_temperature`);
          assert.equal(gauge.length, 1);
          assert.equal(gauge[0].room, 'a');
          if (!api.query) return;

          const val = async (q) => {
            const res = await instant(m.url, q);
            assert.equal(res.length, 1, `${q}: ${JSON.stringify(res)}`);
            return Number(res[0].value[1]);
          };
          assert.equal(await val(`${prefix}_requests_total`), 9);
          assert.equal(await val(`${prefix}_queue_depth`), 9);
          assert.equal(await val(`${prefix}_latency_count`), 9);
          assert.equal(await val(`${prefix}_latency_sum`), 3 * 5055);
          assert.equal(await val(`${prefix}_latency_bucket{le="10"}`), 3);
          assert.equal(await val(`${prefix}_latency_bucket{le="+Inf"}`), 9);
          assert.equal(await val(`${prefix}_temperature`), 23);
        },
      ),
    );
  }

  it(
    'OTLP JSON with an invalid point: 200 with partial_success naming it',
    logged(
      () => m,
      async () => {
        const ns = String(BigInt(NOW_S) * 1_000_000_000n);
        const body = {
          resourceMetrics: [
            {
              resource: { attributes: [{ key: 'service.name', value: { stringValue: 'json-svc' } }] },
              scopeMetrics: [
                {
                  metrics: [
                    {
                      name: 'json.ok',
                      gauge: { dataPoints: [{ timeUnixNano: ns, asDouble: 1.5 }] },
                    },
                    {
                      name: 'json.bad',
                      gauge: { dataPoints: [{ timeUnixNano: '0', asDouble: 1 }] },
                    },
                  ],
                },
              ],
            },
          ],
        };
        // A point without a time is rejected alone: partial success.
        const r = await request(m.url, '/v1/metrics', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(body),
        });
        assert.equal(r.status, 200, r.text);
        const ps = r.json().partialSuccess;
        assert.ok(ps, `partialSuccess in ${r.text}`);
        assert.equal(String(ps.rejectedDataPoints), '1', r.text);
        assert.match(ps.errorMessage, /json\.bad|metrics\[1\]/, r.text);
        if (api.series) {
          const s = await series(m.url, 'json_ok');
          assert.equal(s.length, 1);
          assert.equal(s[0].job, 'json-svc');
        }
      },
    ),
  );

  it(
    'text import with timestamps and extra_label',
    logged(
      () => m,
      async () => {
        const t1 = (NOW_S - 120) * 1000;
        const t2 = (NOW_S - 60) * 1000;
        const body =
          '# HELP imp_jobs_total Jobs done.\n' +
          '# TYPE imp_jobs_total counter\n' +
          `imp_jobs_total{queue="a"} 10 ${t1}\n` +
          `imp_jobs_total{queue="a"} 15 ${t2}\n` +
          `imp_jobs_total{queue="b",env="body"} 7 ${t2}\n` +
          '# TYPE imp_temp gauge\n' +
          `imp_temp 21.5 ${t2}\n`;
        const r = await importText(m.url, body, '?extra_label=env=test&extra_label=dc=eu1');
        assert.equal(r.status, 204, r.text);
        if (!api.series) return;
        const got = seriesKeys(await series(m.url, '{__name__=~"imp_.*"}'));
        assert.deepEqual(
          got,
          seriesKeys([
            { __name__: 'imp_jobs_total', queue: 'a', env: 'test', dc: 'eu1' },
            { __name__: 'imp_jobs_total', queue: 'b', env: 'test', dc: 'eu1' },
            { __name__: 'imp_temp', env: 'test', dc: 'eu1' },
          ]),
        );
        if (!api.query) return;
        const at = async (q, tMs) => {
          const res = await instant(m.url, q, tMs / 1000);
          assert.equal(res.length, 1, `${q}@${tMs}: ${JSON.stringify(res)}`);
          return Number(res[0].value[1]);
        };
        assert.equal(await at('imp_jobs_total{queue="a"}', t1), 10);
        assert.equal(await at('imp_jobs_total{queue="a"}', t2), 15);
        assert.equal(await at('imp_temp', t2), 21.5);
      },
    ),
  );

  const bad = [
    {
      what: 'broken text: the line number in the message',
      send: (url) => importText(url, 'ok_metric 1\nok_metric{a="1" 2\n'),
      status: 400,
      message: /^line 2: expected ',' or '}' after label value/,
    },
    {
      what: 'invalid metric name',
      send: (url) => importText(url, 'good 1\n1bad-name 2\n'),
      status: 400,
      message: /^line 2: .*metric name/,
    },
    {
      what: 'invalid label name',
      send: (url) => importText(url, 'good{1x="a"} 1\n'),
      status: 400,
      message: /^line 1: .*label name/,
    },
    {
      what: 'invalid value',
      send: (url) => importText(url, 'good 1\ngood 2\ngood abc\n'),
      status: 400,
      message: /line 3: invalid value/,
    },
    {
      what: 'invalid extra_label',
      send: (url) => importText(url, 'good 1\n', '?extra_label=nonsense'),
      status: 400,
      message: /extra_label "nonsense": expected name=value/,
    },
    {
      what: 'garbled OTLP protobuf',
      send: (url) =>
        request(url, '/v1/metrics', {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-protobuf' },
          body: Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x12, 0x01, 0x02, 0x03]),
        }),
      status: 400,
      message: /not a valid ExportMetricsServiceRequest/,
    },
    {
      what: 'OTLP JSON that is not JSON',
      send: (url) =>
        request(url, '/v1/metrics', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: '{"resourceMetrics": [',
        }),
      status: 400,
      message: /json/i,
    },
    {
      what: 'bad snappy body to /api/v1/write',
      send: (url) =>
        request(url, '/api/v1/write', {
          method: 'POST',
          headers: {
            'Content-Type': 'application/x-protobuf',
            'Content-Encoding': 'snappy',
            'X-Prometheus-Remote-Write-Version': '0.1.0',
          },
          body: Buffer.from([0x20, 0xff, 0x00, 0x41, 0x42, 0x43]),
        }),
      status: 400,
      message: /^snappy: corrupt input/,
    },
    {
      what: 'wrong content type to /v1/metrics',
      send: (url) =>
        request(url, '/v1/metrics', {
          method: 'POST',
          headers: { 'Content-Type': 'text/csv' },
          body: 'a,b\n',
        }),
      status: 415,
      message: /unsupported Content-Type "text\/csv"/,
    },
  ];
  for (const b of bad) {
    it(
      `bad input: ${b.what}`,
      logged(
        () => m,
        async () => {
          const r = await b.send(m.url);
          assert.equal(r.status, b.status, `${b.what}: ${r.status} ${r.text}`);
          assert.match(r.text, b.message, `${b.what}: message ${JSON.stringify(r.text)}`);
          await assertHealthy(m);
        },
      ),
    );
  }

  it(
    'a rejected text body stores nothing of it',
    logged(
      () => m,
      async () => {
        const r = await importText(m.url, 'partial_first 1\npartial_second{ 2\n');
        assert.equal(r.status, 400);
        if (!api.series) return;
        assert.deepEqual(await series(m.url, '{__name__=~"partial_.*"}'), []);
      },
    ),
  );

  it(
    'kill -9 right after acknowledged imports: the data is there after restart',
    logged(
      () => m,
      async () => {
        const n = 20;
        for (let i = 0; i < n; i++) {
          const r = await importText(m.url, `crash_metric{batch="${i}"} ${i} ${(NOW_S - 30) * 1000}\n`);
          assert.equal(r.status, 204, r.text);
        }
        await m.kill9();
        await m.restart();
        await assertHealthy(m);
        if (!api.series) return;
        const got = (await series(m.url, 'crash_metric')).map((s) => Number(s.batch)).sort((a, b) => a - b);
        assert.deepEqual(got, [...Array(n).keys()]);
        // The earlier tests' series survived too.
        assert.equal((await series(m.url, 'imp_temp')).length, 1);
        if (!api.query) return;
        const res = await instant(m.url, 'crash_metric{batch="7"}', NOW_S - 30);
        assert.equal(Number(res[0]?.value[1]), 7, JSON.stringify(res));
      },
    ),
  );
});

// The global API is not used; keep metrics.disable() so nothing lingers.
metrics.disable();
