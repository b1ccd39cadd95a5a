// prometheus.mjs - runs a real Prometheus server (/usr/bin/prometheus, or
// PROMETHEUS_BIN) for an integration test: a free loopback port, a fresh
// temporary --storage.tsdb.path and a config file written by the caller.
// start() returns once GET /-/ready answers 200 (bounded polling); stop()
// sends SIGTERM and, after a bounded wait, SIGKILL. The process is killed
// when the node process exits, so a failing test leaves nothing running.

import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';

import { freePort, tempDir } from './meshlens.mjs';

const READY_POLLS = 150;
const READY_POLL_MS = 100;
const STOP_TIMEOUT_MS = 10000;
const LOG_KEEP_BYTES = 128 * 1024;

const live = new Set();
process.on('exit', () => {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Path of the Prometheus binary, or null when it is not installed. */
export function prometheusPath() {
  const bin = process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus';
  return existsSync(bin) ? bin : null;
}

/**
 * The remote_write section (YAML lines) that sends to meshlens at url
 * within about a second, as the tests want.
 */
export function remoteWriteTo(url) {
  return [
    'remote_write:',
    `  - url: ${url}/api/v1/write`,
    '    queue_config:',
    '      batch_send_deadline: 1s',
    '      min_backoff: 100ms',
    '      max_backoff: 1s',
  ];
}

/**
 * Starts Prometheus with the YAML text `config` (a function of nothing; the
 * caller fills in ports). Resolves {url, log(), stop()}.
 */
export async function startPrometheus(config) {
  const dir = await tempDir('meshlens-it-prom-');
  const cfgPath = path.join(dir, 'prometheus.yml');
  await writeFile(cfgPath, config);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let log = '';
  let exit = null;
  const child = spawn(
    prometheusPath(),
    [
      `--config.file=${cfgPath}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=info',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  live.add(child);
  const keep = (c) => {
    log += c.toString('utf8');
    if (log.length > LOG_KEEP_BYTES) log = log.slice(log.length - LOG_KEEP_BYTES);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      live.delete(child);
      exit = { code, signal };
      resolve(exit);
    });
  });
  const handle = {
    url,
    log: () => log,
    async stop() {
      if (exit) return exit;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      const r = await exited;
      clearTimeout(timer);
      return r;
    },
  };
  for (let i = 0; i < READY_POLLS; i++) {
    if (exit) break;
    try {
      const r = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(2000) });
      await r.arrayBuffer();
      if (r.status === 200) return handle;
    } catch {
      // not listening yet
    }
    await sleep(READY_POLL_MS);
  }
  await handle.stop();
  throw new Error(`prometheus was not ready (${JSON.stringify(exit)})\n--- prometheus output ---\n${log.slice(-4000)}`);
}
