// meshlens.mjs - runs the real meshlens binary for an integration test.
//
// Each server gets a free loopback port (found by listening on
// 127.0.0.1:0 and closing) and, unless the caller passes one, a fresh
// temporary --storage.path. start() returns once GET /-/ready answers 200
// (polled a bounded number of times); stop() sends SIGTERM and waits for a
// clean exit; kill9() simulates a crash. Every server started here is
// killed when the node process exits, and every temporary directory made
// here is removed, so a failing test leaves nothing behind. stderr (the
// logfmt log) is kept, bounded, and appended to the message of a failed
// assertion by logged().

import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { rmSync, existsSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

// How long start() waits for /-/ready: READY_POLLS x READY_POLL_MS (a
// sanitizer build starts several times slower than a normal one).
const READY_POLLS = 200;
const READY_POLL_MS = 50;
// How long stop() waits for the process to exit after SIGTERM before SIGKILL.
const STOP_TIMEOUT_MS = 15000;
// How much of stdout+stderr is kept for failure messages.
const LOG_KEEP_BYTES = 256 * 1024;

const live = new Set(); // child processes not yet reaped
const tempDirs = new Set(); // directories to remove at exit

process.on('exit', () => {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const dir of tempDirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // best effort at exit
    }
  }
});

/** Path of the meshlens binary under test (MESHLENS_BIN, set by ctest). */
export function binaryPath() {
  const bin = process.env.MESHLENS_BIN;
  if (!bin) {
    throw new Error('MESHLENS_BIN is not set: run under ctest, or export MESHLENS_BIN=<build>/meshlens');
  }
  if (!existsSync(bin)) throw new Error(`MESHLENS_BIN=${bin} does not exist`);
  return bin;
}

/** A loopback TCP port that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** A fresh temporary directory, removed at process exit unless removed earlier. */
export async function tempDir(prefix = 'meshlens-it-') {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** One running (or stopped) meshlens process. */
export class Meshlens {
  constructor({ storagePath, args }) {
    this.storagePath = storagePath;
    this.extraArgs = args;
    this.child = null;
    this.port = 0;
    this.url = '';
    this.log = '';
    this.exit = null; // {code, signal} once exited
    this.exited = null; // promise of this.exit
  }

  /** Last n lines of the process's output, for failure messages. */
  tail(n = 60) {
    const lines = this.log.split('\n');
    return lines.slice(Math.max(0, lines.length - n)).join('\n');
  }

  async _spawnOnce() {
    this.port = await freePort();
    this.url = `http://127.0.0.1:${this.port}`;
    const args = [
      `--web.listen-address=127.0.0.1:${this.port}`,
      `--storage.path=${this.storagePath}`,
      '--log.level=debug',
      ...this.extraArgs,
    ];
    const child = spawn(binaryPath(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.exit = null;
    live.add(child);
    const keep = (chunk) => {
      this.log += chunk.toString('utf8');
      if (this.log.length > LOG_KEEP_BYTES) this.log = this.log.slice(this.log.length - LOG_KEEP_BYTES);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        live.delete(child);
        this.exit = { code, signal };
        resolve(this.exit);
      });
      child.on('error', (err) => {
        live.delete(child);
        this.log += `\nspawn error: ${err.message}\n`;
        this.exit = { code: -1, signal: null };
        resolve(this.exit);
      });
    });
    for (let i = 0; i < READY_POLLS; i++) {
      if (this.exit) return false;
      try {
        const r = await fetch(`${this.url}/-/ready`, { signal: AbortSignal.timeout(2000) });
        await r.arrayBuffer();
        if (r.status === 200) return true;
      } catch {
        // not listening yet
      }
      await sleep(READY_POLL_MS);
    }
    throw new Error(
      `meshlens did not answer 200 on /-/ready within ${(READY_POLLS * READY_POLL_MS) / 1000} s` +
        `\n--- meshlens output ---\n${this.tail()}`,
    );
  }

  /**
   * Starts the process and waits for readiness. A port lost to another
   * process between freePort() and the bind is retried on a new port.
   */
  async start() {
    for (let attempt = 0; attempt < 3; attempt++) {
      if (await this._spawnOnce()) return this;
      if (!/address in use|cannot listen/i.test(this.log)) break;
    }
    throw new Error(
      `meshlens exited before it was ready (${JSON.stringify(this.exit)})` +
        `\n--- meshlens output ---\n${this.tail()}`,
    );
  }

  /** SIGTERM, then wait for the exit; SIGKILL after STOP_TIMEOUT_MS. Returns {code, signal}. */
  async stop() {
    if (!this.child || this.exit) return this.exit;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => {
      this.log += '\n[test harness] no exit after SIGTERM: sending SIGKILL\n';
      this.child.kill('SIGKILL');
    }, STOP_TIMEOUT_MS);
    const result = await this.exited;
    clearTimeout(timer);
    return result;
  }

  /** kill -9: no chance to flush or clean up, as in a crash or power cut. */
  async kill9() {
    if (!this.child || this.exit) return this.exit;
    this.child.kill('SIGKILL');
    return this.exited;
  }

  /** Starts a new process on the same storage path (after stop() or kill9()). */
  async restart() {
    if (this.child && !this.exit) throw new Error('restart() while the process still runs');
    return this.start();
  }

  /** Stops the process (asserting a clean exit is the caller's choice) and removes its directory. */
  async cleanup({ removeStorage = true } = {}) {
    const result = await this.stop();
    if (removeStorage && this.ownsStorage) {
      await rm(this.storagePath, { recursive: true, force: true });
      tempDirs.delete(this.storagePath);
    }
    return result;
  }
}

/**
 * Starts meshlens. Options: storagePath (default: a fresh temporary
 * directory, removed by cleanup()), args (extra flags).
 */
export async function startMeshlens({ storagePath, args = [] } = {}) {
  const owns = !storagePath;
  const dir = storagePath ?? (await tempDir());
  const m = new Meshlens({ storagePath: dir, args });
  m.ownsStorage = owns;
  try {
    await m.start();
  } catch (err) {
    // node 20's spec reporter does not show why a before() hook failed.
    console.error(`startMeshlens: ${err.message}`);
    await m.kill9();
    if (owns) {
      await rm(dir, { recursive: true, force: true });
      tempDirs.delete(dir);
    }
    throw err;
  }
  return m;
}

/**
 * Describes a clean exit for assert: stop() after SIGTERM should give code
 * 0 and no signal (a sanitizer report makes the code non-zero).
 */
export function exitProblem(m, result) {
  if (result && result.code === 0 && result.signal === null) return null;
  return `meshlens did not exit cleanly: ${JSON.stringify(result)}\n--- meshlens output ---\n${m.tail(80)}`;
}

/**
 * Wraps a test body so that a failure carries the server's last log lines:
 * it('...', logged(() => server, async () => {...})).
 */
export function logged(getServer, fn) {
  return async (...args) => {
    try {
      return await fn(...args);
    } catch (err) {
      const m = getServer();
      if (m && err && typeof err === 'object') {
        const extra = `\n--- meshlens output (last lines) ---\n${m.tail(40)}`;
        try {
          // The reporter prints the stack, which holds the original message.
          if (typeof err.stack === 'string') err.stack += extra;
          else err.message += extra;
        } catch {
          // read-only message: rethrow as is
        }
      }
      throw err;
    }
  };
}
