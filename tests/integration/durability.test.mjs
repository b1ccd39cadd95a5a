// durability.test.mjs - "2xx means durable": every batch meshlens
// acknowledged must be found after the process is killed with SIGKILL right
// after the acknowledgement and started again on the same --storage.path;
// a batch that was not acknowledged is either wholly there or wholly
// absent. Also a clean SIGTERM shutdown and restart, and writes after it.

import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';

import { startMeshlens, tempDir, exitProblem, logged } from './lib/meshlens.mjs';
import { request, getJson, qs } from './lib/http.mjs';
import { traceRequestJson, traceRequestProto, hexId } from './lib/otlp.mjs';

const BASE_US = (Math.floor(Date.now() / 1000) - 300) * 1_000_000;
const SPANS_PER_BATCH = 5;

/** Batch i: one whole trace of SPANS_PER_BATCH spans of service `svc`. */
function batch(i, svc) {
  const traceId = hexId(i, 16, 'd');
  const spans = [];
  for (let k = 0; k < SPANS_PER_BATCH; k++) {
    spans.push({
      traceId,
      spanId: hexId(i * 16 + k + 1, 8, 'e'),
      parentSpanId: k === 0 ? undefined : hexId(i * 16 + 1, 8, 'e'),
      name: `op-${k}`,
      kind: k === 0 ? 2 : 3,
      startUs: BASE_US + i * 1000 + k * 10,
      endUs: BASE_US + i * 1000 + k * 10 + 500,
      attrs: { 'batch.index': i, 'span.index': k },
    });
  }
  return { i, traceId, spans, svc };
}

/** Posts a batch, alternating OTLP protobuf, OTLP JSON and Zipkin by index. */
function post(url, b) {
  switch (b.i % 3) {
    case 0:
      return request(url, '/v1/traces', {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-protobuf' },
        body: traceRequestProto(b.svc, b.spans),
      });
    case 1:
      return request(url, '/v1/traces', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(traceRequestJson(b.svc, b.spans)),
      });
    default:
      return request(url, '/api/v2/spans', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(
          b.spans.map((s) => ({
            traceId: s.traceId,
            id: s.spanId,
            ...(s.parentSpanId ? { parentId: s.parentSpanId } : {}),
            name: s.name,
            kind: s.kind === 2 ? 'SERVER' : 'CLIENT',
            timestamp: s.startUs,
            duration: s.endUs - s.startUs,
            localEndpoint: { serviceName: b.svc },
            tags: Object.fromEntries(Object.entries(s.attrs).map(([k, v]) => [k, String(v)])),
          })),
        ),
      });
  }
}

const acked = (r) => r.status === 200 || r.status === 202;

/** Asserts that trace b reads back whole, with its span ids and times. */
async function assertWhole(url, b, why) {
  const body = await getJson(url, `/api/traces/${b.traceId}`);
  const spans = body.data[0].spans;
  assert.equal(spans.length, SPANS_PER_BATCH, `${why}: batch ${b.i} (${b.traceId})`);
  const got = spans.map((s) => `${s.spanID}@${s.startTime}+${s.duration}`).sort();
  const exp = b.spans.map((s) => `${s.spanId}@${s.startUs}+${s.endUs - s.startUs}`).sort();
  assert.deepEqual(got, exp, `${why}: batch ${b.i} spans`);
}

describe('durability across restarts', () => {
  const servers = [];
  let current = null;
  const srv = () => current;
  after(async () => {
    for (const m of servers) await m.cleanup();
  });

  it('finds every acknowledged batch after kill -9 right after the last acknowledgement', logged(srv, async () => {
    const dir = await tempDir();
    const ml = await startMeshlens({ storagePath: dir });
    servers.push(ml);
    current = ml;
    const N = 30;
    const batches = [];
    // In waves of 6 concurrent requests, so that commits are grouped.
    for (let w = 0; w < N; w += 6) {
      const wave = [];
      for (let i = w; i < Math.min(N, w + 6); i++) {
        const b = batch(i, 'durable');
        batches.push(b);
        wave.push(post(ml.url, b).then((r) => ({ r, b })));
      }
      for (const { r, b } of await Promise.all(wave)) {
        assert.ok(acked(r), `batch ${b.i}: ${r.status} ${r.text}`);
      }
    }
    const exit = await ml.kill9();
    assert.equal(exit.signal, 'SIGKILL');

    await ml.restart();
    for (const b of batches) await assertWhole(ml.url, b, 'after kill -9');
    // The indexes survived too: a search finds all of them.
    const found = await getJson(ml.url, `/api/traces${qs({ service: 'durable', limit: 100, start: BASE_US - 1_000_000, end: BASE_US + 60_000_000 })}`);
    assert.deepEqual(found.data.map((t) => t.traceID).sort(), batches.map((b) => b.traceId).sort());
    const ops = await getJson(ml.url, '/api/services/durable/operations');
    assert.deepEqual([...ops.data].sort(), ['op-0', 'op-1', 'op-2', 'op-3', 'op-4']);
    const res = await ml.stop();
    assert.equal(exitProblem(ml, res), null);
  }));

  it('keeps every acknowledged batch when killed with requests in flight; the rest is all or nothing', logged(srv, async () => {
    const dir = await tempDir();
    const ml = await startMeshlens({ storagePath: dir });
    servers.push(ml);
    current = ml;
    const N = 40;
    const KILL_AFTER = 15;
    const batches = [];
    const ackedSet = new Set();
    let killed = false;
    const inflight = [];
    // 8 senders, each posting its share one after another.
    for (let sender = 0; sender < 8; sender++) {
      inflight.push((async () => {
        for (let i = sender; i < N; i += 8) {
          if (killed) return;
          const b = batch(1000 + i, 'inflight');
          batches.push(b);
          try {
            const r = await post(ml.url, b);
            if (acked(r)) {
              ackedSet.add(b.i);
              if (ackedSet.size === KILL_AFTER && !killed) {
                killed = true;
                ml.child.kill('SIGKILL');
              }
            }
          } catch {
            // connection reset by the kill: not acknowledged
          }
        }
      })());
    }
    await Promise.all(inflight);
    await ml.exited;
    assert.ok(ackedSet.size >= KILL_AFTER, `only ${ackedSet.size} batches were acknowledged`);

    await ml.restart();
    for (const b of batches) {
      if (ackedSet.has(b.i)) {
        await assertWhole(ml.url, b, 'acknowledged before kill -9');
      } else {
        const r = await request(ml.url, `/api/traces/${b.traceId}`);
        if (r.status === 404) continue;
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json().data[0].spans.length, SPANS_PER_BATCH, `unacknowledged batch ${b.i} is partly stored`);
      }
    }
    const res = await ml.stop();
    assert.equal(exitProblem(ml, res), null);
  }));

  it('restarts cleanly after SIGTERM and keeps accepting', logged(srv, async () => {
    const dir = await tempDir();
    const ml = await startMeshlens({ storagePath: dir });
    servers.push(ml);
    current = ml;
    const first = [];
    for (let i = 2000; i < 2006; i++) {
      const b = batch(i, 'graceful');
      first.push(b);
      const r = await post(ml.url, b);
      assert.ok(acked(r), `batch ${i}: ${r.status} ${r.text}`);
    }
    const res = await ml.stop();
    assert.equal(exitProblem(ml, res), null, 'SIGTERM gives exit code 0');
    assert.match(ml.log, /shut/i, 'the log says it shut down');

    await ml.restart();
    for (const b of first) await assertWhole(ml.url, b, 'after SIGTERM restart');
    const second = [];
    for (let i = 2006; i < 2010; i++) {
      const b = batch(i, 'graceful');
      second.push(b);
      const r = await post(ml.url, b);
      assert.ok(acked(r), `batch ${i} after restart: ${r.status} ${r.text}`);
    }
    for (const b of [...first, ...second]) await assertWhole(ml.url, b, 'after restart and more writes');
    const services = await getJson(ml.url, '/api/services');
    assert.deepEqual(services.data, ['graceful']);
    const res2 = await ml.stop();
    assert.equal(exitProblem(ml, res2), null);

    // A third start on the same directory sees both generations.
    await ml.restart();
    for (const b of [...first, ...second]) await assertWhole(ml.url, b, 'after a second restart');
    const res3 = await ml.stop();
    assert.equal(exitProblem(ml, res3), null);
  }));
});
