// metrics_prometheus.test.mjs - a real Prometheus server scrapes a tiny
// node HTTP target every second and remote-writes everything it scrapes to
// meshlens's /api/v1/write for about 15 s; then the series set meshlens
// holds for the target's job must equal Prometheus's own (exact label sets,
// job and instance included, and Prometheus's synthetic up/scrape_*
// series), and, when meshlens serves /api/v1/query, the sample values at a
// fixed past instant must be equal too. Prometheus's own remote-storage
// counters must show samples sent and none failed.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';

import { startMeshlens, exitProblem, logged } from './lib/meshlens.mjs';
import { request } from './lib/http.mjs';
import { prometheusPath, remoteWriteTo, startPrometheus } from './lib/prometheus.mjs';
import { readApi, series, instant, seriesKeys } from './lib/metrics.mjs';

const JOB = 'integ_target';
const RUN_MS = 15000; // how long Prometheus scrapes and ships
const CATCH_UP_POLLS = 20; // then at most this many 1 s polls for meshlens to hold the same set

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A /metrics target whose values move with each scrape, over fixed label sets. */
function startTarget() {
  let scrapes = 0;
  const server = http.createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    scrapes++;
    const body =
      '# HELP integ_requests_total Requests served.\n' +
      '# TYPE integ_requests_total counter\n' +
      `integ_requests_total{method="GET",code="200"} ${scrapes * 10}\n` +
      `integ_requests_total{method="GET",code="500"} ${scrapes}\n` +
      `integ_requests_total{method="POST",code="200"} ${scrapes * 3}\n` +
      '# HELP integ_queue_depth Items waiting.\n' +
      '# TYPE integ_queue_depth gauge\n' +
      `integ_queue_depth{queue="fast"} ${scrapes % 7}\n` +
      `integ_queue_depth{queue="slow"} ${100 - scrapes}\n` +
      '# HELP integ_temperature_celsius A value with decimals.\n' +
      '# TYPE integ_temperature_celsius gauge\n' +
      `integ_temperature_celsius ${20 + scrapes / 4}\n`;
    res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' }).end(body);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({ server, port: server.address().port, count: () => scrapes }));
  });
}

/** Value of an unlabelled-or-summed counter in Prometheus's own /metrics text. */
function selfMetric(text, name) {
  let sum = 0;
  let found = false;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) {
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
      found = true;
    }
  }
  return found ? sum : null;
}

describe('Prometheus remote write into meshlens', { skip: !prometheusPath() && 'no prometheus binary' }, () => {
  let m;
  let prom;
  let target;

  before(async () => {
    m = await startMeshlens();
    target = await startTarget();
    prom = await startPrometheus(
      [
        'global:',
        '  scrape_interval: 1s',
        '  scrape_timeout: 1s',
        '  evaluation_interval: 1s',
        'scrape_configs:',
        `  - job_name: ${JOB}`,
        '    static_configs:',
        `      - targets: ['127.0.0.1:${target.port}']`,
        ...remoteWriteTo(m.url),
        '',
      ].join('\n'),
    );
  });

  after(async () => {
    if (prom) await prom.stop();
    if (target) await new Promise((r) => target.server.close(r));
    if (m) {
      const result = await m.cleanup();
      assert.equal(exitProblem(m, result), null);
    }
  });

  it(
    'meshlens holds the same series (and values) as Prometheus for the scraped job',
    logged(
      () => m,
      async () => {
        await sleep(RUN_MS);
        assert.ok(target.count() >= 5, `Prometheus scraped the target ${target.count()} times in ${RUN_MS} ms`);

        const self = (await request(prom.url, '/metrics')).text;
        const sent = selfMetric(self, 'prometheus_remote_storage_samples_total');
        const failed = selfMetric(self, 'prometheus_remote_storage_samples_failed_total');
        const retried = selfMetric(self, 'prometheus_remote_storage_samples_retried_total');
        assert.ok(sent > 0, `remote-written samples ${sent}\n--- prometheus ---\n${prom.log().slice(-3000)}`);
        assert.equal(failed, 0, `failed samples\n--- prometheus ---\n${prom.log().slice(-3000)}`);
        assert.equal(retried, 0, 'retried samples (meshlens answered 5xx or not at all)');

        const api = await readApi(m.url);
        if (!api.series) {
          console.error('metrics_prometheus: meshlens has no /api/v1/series: series comparison skipped');
          return;
        }
        const match = `{job="${JOB}"}`;
        const want = seriesKeys(await series(prom.url, match));
        assert.ok(want.length >= 6 + 5, `Prometheus holds the target's series and up/scrape_*: ${want.join('\n')}`);
        let got = [];
        for (let i = 0; i < CATCH_UP_POLLS; i++) {
          got = seriesKeys(await series(m.url, match));
          if (JSON.stringify(got) === JSON.stringify(want)) break;
          await sleep(1000);
        }
        assert.deepEqual(got, want);

        if (!api.query) {
          console.error('metrics_prometheus: meshlens has no /api/v1/query: value comparison skipped');
          return;
        }
        // An instant several seconds back: both hold every sample up to it.
        const at = Math.floor(Date.now() / 1000) - 5;
        for (const q of ['integ_requests_total', 'integ_queue_depth', 'integ_temperature_celsius', 'up']) {
          const sel = `${q}{job="${JOB}"}`;
          const norm = (res) =>
            res.map((s) => `${seriesKeys([s.metric])[0]} ${s.value[0]} ${s.value[1]}`).sort();
          assert.deepEqual(norm(await instant(m.url, sel, at)), norm(await instant(prom.url, sel, at)), sel);
        }
      },
    ),
  );
});
