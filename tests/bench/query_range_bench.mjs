// query_range_bench.mjs - query_range latency of meshlens and of a real
// Prometheus side by side, on the same data, on the same machine, in one run.
//
// Data: SERIES Istio-shaped series (istio_requests_total by reporter,
// source/destination workload and response code, and the
// istio_request_duration_milliseconds histogram: 16 buckets, _sum, _count),
// HOURS hours at 15 s ending now, values from a fixed-seed generator. The
// very same remote-write bodies (protobuf, snappy) go to meshlens's
// /api/v1/write and to Prometheus's remote-write receiver
// (--web.enable-remote-write-receiver), oldest window first, so both hold
// identical samples. Prometheus then gets time to compact its head (it cuts
// 2 h blocks once the head spans more than 3 h), so that its compaction does
// not run during the measurements.
//
// Queries: the panels of Istio's service and workload dashboards (request
// volume, success rate, latency percentiles by service, one service's
// traffic by source) over the whole window at a 60 s step, and one "last
// hour at 15 s" panel. Each query runs ROUNDS times on each server,
// alternating servers, one at a time; a query's answers from both servers
// must have the same series (same count) or the run fails. Prints medians,
// p99 (of ROUNDS samples: the maximum when ROUNDS < 100) and the ratio
// Prometheus / meshlens, the peak RSS of both processes (VmHWM), and a
// Markdown table for docs/BENCHMARKS.md.
//
// Usage: MESHLENS_BIN=build/meshlens node tests/bench/query_range_bench.mjs
// Environment: SERIES (10000, a multiple of 2000), HOURS (6), ROUNDS (7),
// PROMETHEUS_BIN (/usr/bin/prometheus), DATA_ONLY (a directory: only write
// the data set into a meshlens with that --storage.path, stop it and exit,
// for profiling queries by hand). query_range_bench.sh builds a Release
// meshlens and runs this.

import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

import { startMeshlens, freePort, tempDir } from '../integration/lib/meshlens.mjs';
import { prng } from '../integration/lib/prng.mjs';

const SERIES = Number(process.env.SERIES ?? 10000);
const HOURS = Number(process.env.HOURS ?? 6);
const ROUNDS = Number(process.env.ROUNDS ?? 7);
const PROM_BIN = process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus';
const DATA_ONLY = process.env.DATA_ONLY ?? '';
const SCRAPE_S = 15;
const WINDOW_SAMPLES = 40; // samples per series per remote-write request (10 min)

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- the data set ------------------------------------------------------------

// Istio's default duration buckets (ms), the first 15 of them, then +Inf.
const LE = ['0.5', '1', '5', '10', '25', '50', '100', '250', '500', '1000', '2500', '5000', '10000', '30000', '60000', '+Inf'];

/**
 * The series, in groups of 2,000: 5 destination services x 5 source
 * workloads x 2 reporters, each with istio_requests_total for 4 response
 * codes and, for codes 200 and 500, the duration histogram (16 buckets,
 * _sum, _count): 50 x (4 + 2 x 18) = 2,000. Each entry: {labels (sorted
 * [name, value] pairs), value(k): the k-th sample}.
 */
function makeSeries(n) {
  const out = [];
  const rand = prng(42);
  const groups = n / 2000;
  for (let g = 0; g < groups; g++) {
    for (let d = 0; d < 5; d++) {
      const svc = `svc-${g * 5 + d}`;
      for (let s = 0; s < 5; s++) {
        const src = `client-${s}`;
        for (const reporter of ['destination', 'source']) {
          const base = [
            ['connection_security_policy', 'mutual_tls'],
            ['destination_service', `${svc}.default.svc.cluster.local`],
            ['destination_workload', `${svc}-v1`],
            ['destination_workload_namespace', 'default'],
            ['reporter', reporter],
            ['request_protocol', 'http'],
          ];
          const tail = [['source_workload', src], ['source_workload_namespace', 'default']];
          const rate = 1 + rand() * 20; // requests per second
          const codes = [['200', 0.9], ['404', 0.04], ['500', 0.05], ['503', 0.01]];
          for (const [code, share] of codes) {
            const r = rate * share * SCRAPE_S;
            out.push({
              labels: [['__name__', 'istio_requests_total'], ...base, ['response_code', code], ...tail],
              value: (k) => Math.floor(k * r),
            });
          }
          for (const [code, share] of [['200', 0.9], ['500', 0.05]]) {
            const r = rate * share * SCRAPE_S;
            const mean = 20 + rand() * 200; // ms
            const hist = [['__name__', 'istio_request_duration_milliseconds_bucket'], ...base];
            for (const le of LE) {
              // Share of requests at or under le for an exponential latency.
              const f = le === '+Inf' ? 1 : 1 - Math.exp(-Number(le) / mean);
              out.push({
                labels: [...hist, ['le', le], ['response_code', code], ...tail],
                value: (k) => Math.floor(Math.floor(k * r) * f),
              });
            }
            const name = (suffix) => [['__name__', `istio_request_duration_milliseconds_${suffix}`], ...base];
            out.push({ labels: [...name('sum'), ['response_code', code], ...tail], value: (k) => Math.floor(k * r) * mean });
            out.push({ labels: [...name('count'), ['response_code', code], ...tail], value: (k) => Math.floor(k * r) });
          }
        }
      }
    }
  }
  return out;
}

// ---- remote write encoding (protobuf by hand, snappy as one literal) ----------

function varint(n, out) {
  let v = BigInt(n);
  if (v < 0n) v += 1n << 64n;
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
}

function lenField(field, bytes, out) {
  out.push((field << 3) | 2);
  varint(bytes.length, out);
  for (const b of bytes) out.push(b);
}

const enc = new TextEncoder();

/** The encoded Label messages of a series (cached: they repeat in every request). */
function labelBytes(labels) {
  const out = [];
  for (const [n, v] of labels) {
    const l = [];
    lenField(1, enc.encode(n), l);
    lenField(2, enc.encode(v), l);
    lenField(1, l, out);
  }
  return Buffer.from(out);
}

/** WriteRequest for samples k0 .. k1-1 of every series; raw snappy of it. */
function writeBody(series, t0ms, k0, k1) {
  const parts = [];
  const f64 = Buffer.alloc(8);
  for (const s of series) {
    const smp = [];
    for (let k = k0; k < k1; k++) {
      const one = [0x09]; // field 1, fixed64
      f64.writeDoubleLE(s.value(k));
      for (const b of f64) one.push(b);
      one.push(0x10); // field 2, varint
      varint(t0ms + k * SCRAPE_S * 1000, one);
      lenField(2, one, smp);
    }
    const ts = Buffer.concat([s.lb, Buffer.from(smp)]);
    const head = [];
    head.push(0x0a);
    varint(ts.length, head);
    parts.push(Buffer.from(head), ts);
  }
  const pb = Buffer.concat(parts);
  // Snappy block: uncompressed length, then one literal (tag 63<<2: 4-byte length).
  const hdr = [];
  varint(pb.length, hdr);
  const lit = Buffer.alloc(5);
  lit[0] = 63 << 2;
  lit.writeUInt32LE(pb.length - 1, 1);
  return Buffer.concat([Buffer.from(hdr), lit, pb]);
}

function post(url, p, body, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(p, url), { method: 'POST', headers: { ...headers, 'Content-Length': body.length }, agent: false });
    req.on('response', (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function get(url, p) {
  return new Promise((resolve, reject) => {
    const t = process.hrtime.bigint();
    http.get(new URL(p, url), { agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({
        status: res.statusCode,
        text: Buffer.concat(chunks).toString(),
        ms: Number(process.hrtime.bigint() - t) / 1e6,
      }));
    }).on('error', reject);
  });
}

// ---- Prometheus ----------------------------------------------------------------

async function startPrometheus() {
  const dir = await tempDir('meshlens-bench-prom-');
  const cfg = path.join(dir, 'prometheus.yml');
  (await import('node:fs')).writeFileSync(cfg, 'global:\n  scrape_interval: 15s\n');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(PROM_BIN, [
    `--config.file=${cfg}`, `--storage.tsdb.path=${path.join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`, '--web.enable-remote-write-receiver', '--log.level=warn',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (c) => { log = (log + c).slice(-8000); });
  process.on('exit', () => child.kill('SIGKILL'));
  for (let i = 0; i < 300; i++) {
    try {
      if ((await get(url, '/-/ready')).status === 200) return { url, child, log: () => log };
    } catch { /* not yet */ }
    await sleep(100);
  }
  throw new Error(`prometheus not ready:\n${log}`);
}

/** A gauge of Prometheus's own /metrics. */
async function promMetric(url, name) {
  const t = (await get(url, '/metrics')).text;
  const m = t.match(new RegExp(`^${name} (\\S+)$`, 'm'));
  return m ? Number(m[1]) : NaN;
}

/** Peak resident set (VmHWM) of a process, MiB. */
function peakRssMiB(pid) {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = s.match(/^VmHWM:\s+(\d+) kB/m);
  return m ? Number(m[1]) / 1024 : NaN;
}

/** {rss, anon, file} of a process, MiB (file: mapped files, e.g. LMDB's map or Prometheus's chunks). */
function rssMiB(pid) {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => {
    const m = s.match(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm'));
    return m ? Number(m[1]) / 1024 : NaN;
  };
  return { rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile') };
}

/** Resets a process's peak RSS (VmHWM) to its current RSS (Linux clear_refs 5); false if not allowed. */
function resetPeak(pid) {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

const fmtMem = (r) => `${r.rss.toFixed(0)} (anon ${r.anon.toFixed(0)}, file ${r.file.toFixed(0)})`;

// ---- the run -------------------------------------------------------------------

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
};

async function main() {
  if (SERIES % 2000 !== 0) throw new Error('SERIES must be a multiple of 2000');
  const series = makeSeries(SERIES);
  for (const s of series) s.lb = labelBytes(s.labels);
  const nSteps = (HOURS * 3600) / SCRAPE_S; // samples 0..nSteps
  const endS = Math.floor(Date.now() / 1000 / 60) * 60 - 60;
  const startS = endS - nSteps * SCRAPE_S;
  console.log(`# ${series.length} series x ${nSteps + 1} samples (${HOURS} h at ${SCRAPE_S} s) = ${(series.length * (nSteps + 1) / 1e6).toFixed(1)} M samples`);

  if (DATA_ONLY) {
    const m = await startMeshlens({ storagePath: DATA_ONLY, args: ['--log.level=warn'] });
    const hdr = { 'Content-Type': 'application/x-protobuf', 'Content-Encoding': 'snappy', 'X-Prometheus-Remote-Write-Version': '0.1.0' };
    for (let k0 = 0; k0 <= nSteps; k0 += WINDOW_SAMPLES) {
      const body = writeBody(series, startS * 1000, k0, Math.min(nSteps + 1, k0 + WINDOW_SAMPLES));
      const a = await post(m.url, '/api/v1/write', body, hdr);
      if (a.status >= 300) throw new Error(`meshlens write: ${a.status} ${a.text.slice(0, 300)}`);
    }
    console.log(`# RSS after ingest, MiB: ${fmtMem(rssMiB(m.child.pid))}`);
    await sleep(Number(process.env.DATA_WAIT_MS ?? 12000));
    console.log(`# RSS 12 s later, MiB: ${fmtMem(rssMiB(m.child.pid))}`);
    await m.stop();
    console.log(`# data in ${DATA_ONLY}: start=${startS} end=${endS}`);
    return;
  }
  const m = await startMeshlens({ args: ['--log.level=warn'] });
  const p = await startPrometheus();
  const hdr = { 'Content-Type': 'application/x-protobuf', 'Content-Encoding': 'snappy', 'X-Prometheus-Remote-Write-Version': '0.1.0' };
  const tIngest = Date.now();
  let bytes = 0;
  for (let k0 = 0; k0 <= nSteps; k0 += WINDOW_SAMPLES) {
    const k1 = Math.min(nSteps + 1, k0 + WINDOW_SAMPLES);
    const body = writeBody(series, startS * 1000, k0, k1);
    bytes += body.length;
    const [a, b] = await Promise.all([post(m.url, '/api/v1/write', body, hdr), post(p.url, '/api/v1/write', body, hdr)]);
    if (a.status >= 300) throw new Error(`meshlens write: ${a.status} ${a.text.slice(0, 300)}`);
    if (b.status >= 300) throw new Error(`prometheus write: ${b.status} ${b.text.slice(0, 300)}`);
  }
  console.log(`# ingest: ${((Date.now() - tIngest) / 1000).toFixed(1)} s for both, ${(bytes / 1048576).toFixed(0)} MiB of remote-write bodies each`);

  // Let Prometheus cut its head down to <= 3 h (2 h blocks) before measuring.
  const tCompact = Date.now();
  for (let i = 0; i < 150; i++) {
    const span = (await promMetric(p.url, 'prometheus_tsdb_head_max_time')) - (await promMetric(p.url, 'prometheus_tsdb_head_min_time'));
    if (HOURS <= 3 || span <= 3 * 3600 * 1000) break;
    await sleep(1000);
  }
  console.log(`# waited ${((Date.now() - tCompact) / 1000).toFixed(0)} s for Prometheus's head compaction`);
  const rssAfterIngest = { meshlens: rssMiB(m.child.pid), prometheus: rssMiB(p.child.pid) };
  const peakReset = resetPeak(m.child.pid) && resetPeak(p.child.pid);

  const whole = { start: startS, end: endS, step: 60 };
  const lastHour = { start: endS - 3600, end: endS, step: 15 };
  const R = 'reporter="destination"';
  const queries = [
    ['request volume', `round(sum(irate(istio_requests_total{${R}}[1m])), 0.001)`, whole],
    ['success rate', `sum(rate(istio_requests_total{${R},response_code!~"5.*"}[5m])) / sum(rate(istio_requests_total{${R}}[5m]))`, whole],
    ['requests by service', `sum by (destination_service) (rate(istio_requests_total{${R}}[5m]))`, whole],
    ['p99 by service', `histogram_quantile(0.99, sum by (le, destination_service) (rate(istio_request_duration_milliseconds_bucket{${R}}[5m])))`, whole],
    ['p50/90/99 one service', `histogram_quantile(0.90, sum by (le) (rate(istio_request_duration_milliseconds_bucket{${R},destination_service="svc-3.default.svc.cluster.local"}[1m])))`, whole],
    ['one service by source', `sum by (source_workload, response_code) (rate(istio_requests_total{${R},destination_service=~"svc-1.*"}[5m]))`, whole],
    ['mean latency, last hour', `sum by (destination_workload) (rate(istio_request_duration_milliseconds_sum{${R}}[1m])) / sum by (destination_workload) (rate(istio_request_duration_milliseconds_count{${R}}[1m]))`, lastHour],
  ];
  const servers = [['meshlens', m.url], ['prometheus', p.url]];
  const rows = [];
  for (const [name, q, rng0] of queries) {
    const qs = `/api/v1/query_range?query=${encodeURIComponent(q)}&start=${rng0.start}&end=${rng0.end}&step=${rng0.step}`;
    const lat = { meshlens: [], prometheus: [] };
    const nSeries = {};
    for (let r = 0; r < ROUNDS + 1; r++) {
      for (const [sn, url] of r % 2 ? servers : [...servers].reverse()) {
        const a = await get(url, qs);
        if (a.status !== 200) throw new Error(`${sn} ${name}: ${a.status} ${a.text.slice(0, 300)}`);
        nSeries[sn] = JSON.parse(a.text).data.result.length;
        if (r > 0) lat[sn].push(a.ms); // round 0 warms caches on both
      }
    }
    if (nSeries.meshlens !== nSeries.prometheus) {
      throw new Error(`${name}: meshlens answered ${nSeries.meshlens} series, prometheus ${nSeries.prometheus}`);
    }
    const row = {
      name,
      points: Math.floor((rng0.end - rng0.start) / rng0.step) + 1,
      series: nSeries.meshlens,
      m50: quantile(lat.meshlens, 0.5),
      m99: quantile(lat.meshlens, 0.99),
      p50: quantile(lat.prometheus, 0.5),
      p99: quantile(lat.prometheus, 0.99),
    };
    rows.push(row);
    console.log(`${name.padEnd(26)} meshlens ${row.m50.toFixed(1).padStart(8)} ms (p99 ${row.m99.toFixed(1)})  ` +
      `prometheus ${row.p50.toFixed(1).padStart(8)} ms (p99 ${row.p99.toFixed(1)})  ratio ${(row.p50 / row.m50).toFixed(2)}x`);
  }
  const peak = { meshlens: peakRssMiB(m.child.pid), prometheus: peakRssMiB(p.child.pid) };
  const rssEnd = { meshlens: rssMiB(m.child.pid), prometheus: rssMiB(p.child.pid) };

  console.log('\n| panel | points × series | meshlens median (p99) ms | Prometheus median (p99) ms | Prometheus / meshlens |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) {
    console.log(`| ${r.name} | ${r.points} × ${r.series} | ${r.m50.toFixed(1)} (${r.m99.toFixed(1)}) | ${r.p50.toFixed(1)} (${r.p99.toFixed(1)}) | ${(r.p50 / r.m50).toFixed(2)} |`);
  }
  const geo = Math.exp(rows.reduce((a, r) => a + Math.log(r.p50 / r.m50), 0) / rows.length);
  console.log(`\nGeometric mean of the median ratios: ${geo.toFixed(2)} (above 1: meshlens faster).`);
  console.log(`RSS after ingest, MiB: meshlens ${fmtMem(rssAfterIngest.meshlens)}, Prometheus ${fmtMem(rssAfterIngest.prometheus)}.`);
  console.log(`RSS after the queries, MiB: meshlens ${fmtMem(rssEnd.meshlens)}, Prometheus ${fmtMem(rssEnd.prometheus)}.`);
  console.log(`RSS peak (VmHWM${peakReset ? ', reset after ingest: the queries alone' : ', ingest included'}), MiB: ` +
    `meshlens ${peak.meshlens.toFixed(0)}, Prometheus ${peak.prometheus.toFixed(0)}.`);
  console.log(`Load average during the run (a shared machine): ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}.`);
  console.log(`Machine: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB.`);

  p.child.kill('SIGTERM');
  await m.cleanup();
}

main().catch((e) => {
  console.error(e.stack ?? e.message);
  process.exit(1);
});
