// self_metrics.test.mjs - meshlens's GET /metrics and GET /federate with
// real clients: promtool accepts the text exposition, OpenMetrics and gzip
// are served when asked for, the health counters count what was pushed, and
// a real Prometheus scraping /metrics every second sees up == 1 and
// meshlens_build_info == 1; the same Prometheus federates imported samples
// through /federate with honor_labels and gets them with their own labels.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import zlib from 'node:zlib';

import { startMeshlens, exitProblem, logged } from './lib/meshlens.mjs';
import { request } from './lib/http.mjs';
import { startPrometheus, prometheusPath } from './lib/prometheus.mjs';
import { instant } from './lib/metrics.mjs';

const PROMTOOL = process.env.PROMTOOL_BIN ?? '/usr/bin/promtool';
// What Prometheus 2.42 sends when it scrapes.
const PROM_ACCEPT =
  'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,' +
  'text/plain;version=0.0.4;q=0.5,*/*;q=0.1';
const WAIT_POLLS = 40; // 500 ms polls of Prometheus's API before giving up

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Sample lines of an exposition as {name, labels (string), value}. */
function samples(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)(?: (\S+))?$/.exec(line);
    assert.ok(m, `unparsable sample line: ${line}`);
    out.push({ name: m[1], labels: m[2] ?? '', value: Number(m[3]), ts: m[4] });
  }
  return out;
}

// Lint findings that are by design: Istio's standard metric names carry
// milliseconds (Envoy's stats), and federation writes no HELP (as
// Prometheus's own /federate).
const ACCEPTED_LINT = [/^istio_\w+_milliseconds use base unit "seconds"/, /^\w+ no help text$/];

/**
 * promtool check metrics on text: a parse error (exit 1) fails; lint
 * findings (exit 3) fail unless every one matches `accepted`.
 */
function promtoolCheck(text, accepted) {
  if (!existsSync(PROMTOOL)) {
    console.error('self_metrics: no promtool: check skipped');
    return;
  }
  try {
    execFileSync(PROMTOOL, ['check', 'metrics'], { input: text, stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (e) {
    const out = `${e.stdout ?? ''}${e.stderr ?? ''}`;
    assert.equal(e.status, 3, `promtool: ${out}`);
    const bad = out
      .split('\n')
      .filter((l) => l.trim() !== '')
      .filter((l) => !accepted.some((re) => re.test(l)));
    assert.deepEqual(bad, [], `promtool findings:\n${out}`);
  }
}

function value(text, name, labels = '') {
  const s = samples(text).find((x) => x.name === name && x.labels === labels);
  return s ? s.value : undefined;
}

function zipkinSpan(i, nowUs) {
  return {
    traceId: (0x1000 + i).toString(16).padStart(32, '0'),
    id: (0x2000 + i).toString(16).padStart(16, '0'),
    name: 'get /reviews',
    kind: 'SERVER',
    timestamp: nowUs,
    duration: 1500,
    localEndpoint: { serviceName: 'reviews' },
  };
}

describe('self metrics and federation', () => {
  let m;

  before(async () => {
    m = await startMeshlens();
  });

  after(async () => {
    if (m) {
      const result = await m.cleanup();
      assert.equal(exitProblem(m, result), null);
    }
  });

  it(
    'GET /metrics is valid text 0.0.4 and counts pushed and rejected spans',
    logged(
      () => m,
      async () => {
        const nowUs = Date.now() * 1000;
        const good = [0, 1, 2].map((i) => zipkinSpan(i, nowUs));
        const bad = { traceId: 'zz', id: '1', name: 'x' };
        let r = await request(m.url, '/api/v2/spans', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(good),
        });
        assert.equal(r.status, 202, r.text);
        r = await request(m.url, '/api/v2/spans', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify([zipkinSpan(9, nowUs), bad]),
        });
        assert.equal(r.status, 400, r.text);
        r = await request(m.url, '/api/v1/query?query=1');
        assert.equal(r.status, 200, r.text);

        r = await request(m.url, '/metrics');
        assert.equal(r.status, 200);
        assert.equal(r.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
        assert.equal(r.headers['content-encoding'], undefined);
        const text = r.text;
        promtoolCheck(text, [ACCEPTED_LINT[0]]);
        assert.equal(value(text, 'meshlens_received_spans_total', '{format="zipkin"}'), 4);
        assert.equal(value(text, 'meshlens_received_spans_total', '{format="otlp_proto"}'), 0);
        assert.equal(value(text, 'meshlens_rejected_spans_total', '{format="zipkin",reason="invalid"}'), 1);
        assert.equal(
          value(text, 'meshlens_http_request_duration_seconds_count', '{handler="/api/v2/spans",code="202"}'),
          1,
        );
        assert.equal(
          value(text, 'meshlens_http_request_duration_seconds_count', '{handler="/api/v2/spans",code="400"}'),
          1,
        );
        assert.equal(value(text, 'meshlens_query_duration_seconds_count', '{endpoint="query"}'), 1);
        assert.ok(value(text, 'meshlens_commit_duration_seconds_count') >= 2, 'a commit per accepted push');
        assert.ok(value(text, 'meshlens_storage_bytes') > 0);
        assert.ok(value(text, 'process_resident_memory_bytes') > 0);
        assert.ok(value(text, 'process_open_fds') > 0);
        const start = value(text, 'process_start_time_seconds');
        assert.ok(Math.abs(start - Date.now() / 1000) < 600, `process_start_time_seconds ${start}`);
        const build = samples(text).filter((s) => s.name === 'meshlens_build_info');
        assert.equal(build.length, 1);
        assert.equal(build[0].value, 1);
        assert.match(build[0].labels, /version="\d+\.\d+\.\d+"/);
      },
    ),
  );

  it(
    'GET /metrics serves OpenMetrics to Prometheus and gzip when asked',
    logged(
      () => m,
      async () => {
        const r = await request(m.url, '/metrics', {
          headers: { Accept: PROM_ACCEPT, 'Accept-Encoding': 'gzip' },
        });
        assert.equal(r.status, 200);
        assert.equal(r.headers['content-type'], 'application/openmetrics-text; version=1.0.0; charset=utf-8');
        assert.equal(r.headers['content-encoding'], 'gzip');
        const text = zlib.gunzipSync(r.body).toString('utf8');
        assert.ok(text.endsWith('# EOF\n'), text.slice(-200));
        assert.match(text, /^# TYPE meshlens_received_spans counter$/m);
        assert.match(text, /^meshlens_received_spans_total\{format="zipkin"\} 4$/m);
      },
    ),
  );

  it(
    'GET /federate returns the latest sample of each matching series, 400 without a valid match[]',
    logged(
      () => m,
      async () => {
        const now = Date.now();
        const body =
          '# TYPE fed_requests_total counter\n' +
          `fed_requests_total{job="upstream",path="/a"} 1 ${now - 60000}\n` +
          `fed_requests_total{job="upstream",path="/a"} 7 ${now - 2000}\n` +
          `fed_requests_total{job="upstream",path="/b\\"q"} 3 ${now - 2000}\n` +
          `fed_temperature{job="upstream"} 21.5 ${now - 1000}\n` +
          `fed_old{job="upstream"} 1 ${now - 10 * 60000}\n`;
        let r = await request(m.url, '/api/v1/import/prometheus', { method: 'POST', body });
        assert.equal(r.status, 204, r.text);

        r = await request(m.url, `/federate?match[]=${encodeURIComponent('{__name__=~"fed_.+"}')}`);
        assert.equal(r.status, 200, r.text);
        assert.equal(r.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
        assert.equal(
          r.text,
          '# TYPE fed_requests_total counter\n' +
            `fed_requests_total{job="upstream",path="/a"} 7 ${now - 2000}\n` +
            `fed_requests_total{job="upstream",path="/b\\"q"} 3 ${now - 2000}\n` +
            '# TYPE fed_temperature untyped\n' +
            `fed_temperature{job="upstream"} 21.5 ${now - 1000}\n`,
        );
        promtoolCheck(r.text, [ACCEPTED_LINT[1]]);

        // Two selectors selecting the same series: each series once.
        r = await request(
          m.url,
          `/federate?match[]=fed_temperature&match[]=${encodeURIComponent('{job="upstream",__name__="fed_temperature"}')}`,
        );
        assert.equal(r.status, 200, r.text);
        assert.equal(samples(r.text).length, 1, r.text);

        r = await request(m.url, '/federate');
        assert.equal(r.status, 400);
        assert.match(r.text, /match\[\]/);
        r = await request(m.url, `/federate?match[]=${encodeURIComponent('fed_requests_total{')}`);
        assert.equal(r.status, 400);
        r = await request(m.url, `/federate?match[]=${encodeURIComponent('rate(fed_requests_total[5m])')}`);
        assert.equal(r.status, 400);
        assert.match(r.text, /not a vector selector/);
      },
    ),
  );

  describe('a real Prometheus', { skip: !prometheusPath() && 'no prometheus binary' }, () => {
    let prom;

    before(async () => {
      const hostPort = new URL(m.url).host;
      prom = await startPrometheus(
        [
          'global:',
          '  scrape_interval: 1s',
          '  scrape_timeout: 1s',
          'scrape_configs:',
          '  - job_name: meshlens',
          '    static_configs:',
          `      - targets: ['${hostPort}']`,
          '  - job_name: federate',
          '    honor_labels: true',
          '    metrics_path: /federate',
          '    params:',
          "      'match[]': ['{__name__=~\"fed_.+\"}']",
          '    static_configs:',
          `      - targets: ['${hostPort}']`,
          '',
        ].join('\n'),
      );
    });

    after(async () => {
      if (prom) await prom.stop();
    });

    async function waitFor(query, check) {
      let last = [];
      for (let i = 0; i < WAIT_POLLS; i++) {
        last = await instant(prom.url, query);
        if (check(last)) return last;
        await sleep(500);
      }
      assert.fail(`${query}: ${JSON.stringify(last)}\n--- prometheus ---\n${prom.log().slice(-3000)}`);
    }

    it(
      'scrapes /metrics: up == 1 and meshlens_build_info == 1',
      logged(
        () => m,
        async () => {
          await waitFor('up{job="meshlens"}', (v) => v.length === 1 && v[0].value[1] === '1');
          const b = await waitFor('meshlens_build_info', (v) => v.length === 1);
          assert.equal(b[0].value[1], '1');
          assert.equal(b[0].metric.job, 'meshlens');
          const z = await waitFor('meshlens_received_spans_total{format="zipkin"}', (v) => v.length === 1);
          assert.equal(z[0].value[1], '4');
          // OpenMetrics was negotiated: the counter keeps its _total name in Prometheus.
          await waitFor('meshlens_http_request_duration_seconds_count{handler="/metrics"}', (v) => v.length >= 1);
        },
      ),
    );

    it(
      'federates /federate with honor_labels',
      logged(
        () => m,
        async () => {
          await waitFor('up{job="federate"}', (v) => v.length === 1 && v[0].value[1] === '1');
          const v = await waitFor('fed_requests_total', (x) => x.length === 2);
          const byPath = Object.fromEntries(v.map((s) => [s.metric.path, s]));
          assert.equal(byPath['/a'].value[1], '7');
          assert.equal(byPath['/b"q'].value[1], '3');
          assert.equal(byPath['/a'].metric.job, 'upstream', 'honor_labels keeps the federated job');
        },
      ),
    );
  });
});
