// envoy_bookinfo.test.mjs - Zipkin v2 spans shaped exactly like the ones
// Istio's Envoy sidecars send for the Bookinfo sample, posted in pieces
// from "different sidecars" (one request per proxy, concurrently), then
// found again by service, operation, tag and duration through the Jaeger
// and Zipkin query APIs, and summed up as dependency links.
//
// Three traces of the same call chain
//   istio-ingressgateway -> productpage -> details
//                           productpage -> reviews -> ratings
// with a CLIENT span on the calling proxy and a SERVER span on the called
// one for every hop (9 spans):
//   ok      Istio's default ids (shared context off): the server span has a
//           new id whose parent is the client span; ratings answers in 4.2 ms
//   error   the same, but ratings answers 500 after 30 ms (error=true)
//   shared  Envoy's own default (shared context on): each server span reuses
//           its client span's id and parent, marked shared:true
// Tags are the ones Envoy and Istio set (see REFERENCE.md).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startMeshlens, exitProblem, logged } from './lib/meshlens.mjs';
import { getJson, request, qs } from './lib/http.mjs';

import { BASE_US, bookinfoTrace, opName, SVC } from './lib/bookinfo.mjs';

const TRACES = [bookinfoTrace(1, 'ok'), bookinfoTrace(2, 'error'), bookinfoTrace(3, 'shared')];
const ALL = TRACES.map((t) => t.traceId).sort();
const [OK, ERR, SHARED] = TRACES;

describe('Envoy (Istio) Zipkin spans of Bookinfo', () => {
  let ml;
  const srv = () => ml;
  before(async () => {
    ml = await startMeshlens();
  });
  after(async () => {
    if (!ml) return;
    const result = await ml.cleanup();
    assert.equal(exitProblem(ml, result), null);
  });

  it('accepts each sidecar\'s batch with 202', logged(srv, async () => {
    // Every proxy posts its own spans; the proxies do not wait for each other.
    const posts = [];
    for (const t of TRACES) {
      for (const batch of t.batches) {
        posts.push(
          request(ml.url, '/api/v2/spans', {
            method: 'POST',
            headers: { 'Content-Type': 'application/json', 'User-Agent': 'Envoy/1.31' },
            body: JSON.stringify(batch),
          }).then((r) => ({ r, service: batch[0].localEndpoint.serviceName, trace: t.traceId })),
        );
      }
    }
    const results = await Promise.all(posts);
    assert.equal(results.length, 15);
    for (const { r, service, trace } of results) {
      assert.equal(r.status, 202, `POST of ${service}'s spans of ${trace}: ${r.status} ${r.text}`);
    }
  }));

  it('returns each trace whole through the Zipkin API, as sent', logged(srv, async () => {
    for (const t of TRACES) {
      const got = await getJson(ml.url, `/api/v2/trace/${t.traceId}`);
      assert.equal(got.length, 9, `${t.variant}: 9 spans`);
      for (const exp of t.spans) {
        const s = got.find((x) => x.id === exp.id && x.kind === exp.kind);
        assert.ok(s, `${t.variant}: span ${exp.id} ${exp.kind} missing`);
        const w = `${t.variant} ${exp.kind} span ${exp.id} of ${exp.localEndpoint.serviceName}`;
        assert.equal(s.traceId, exp.traceId, `${w}: traceId`);
        assert.equal(s.parentId, exp.parentId, `${w}: parentId`);
        assert.equal(s.name, exp.name, `${w}: name`);
        assert.equal(s.timestamp, exp.timestamp, `${w}: timestamp`);
        assert.equal(s.duration, exp.duration, `${w}: duration`);
        assert.equal(s.localEndpoint?.serviceName, exp.localEndpoint.serviceName, `${w}: serviceName`);
        assert.equal(s.localEndpoint?.ipv4, exp.localEndpoint.ipv4, `${w}: ipv4`);
        assert.equal(s.remoteEndpoint, undefined, `${w}: Envoy sent no remoteEndpoint`);
        assert.equal(s.shared ?? false, exp.shared ?? false, `${w}: shared`);
        assert.deepEqual(s.tags, exp.tags, `${w}: tags`);
      }
    }
  }));

  it('returns each trace whole through the Jaeger API, with unique span ids', logged(srv, async () => {
    for (const t of TRACES) {
      const body = await getJson(ml.url, `/api/traces/${t.traceId}`);
      const tr = body.data[0];
      assert.equal(tr.traceID, t.traceId);
      assert.equal(tr.spans.length, 9, `${t.variant}: 9 spans`);
      const ids = new Set(tr.spans.map((s) => s.spanID));
      assert.equal(ids.size, 9, `${t.variant}: span ids must be unique for the Jaeger UI: ${[...ids]}`);
      // Find every span by its (service, kind, operation, start).
      const byRole = {};
      for (const [role, exp] of Object.entries(t.roles)) {
        const s = tr.spans.find((x) => x.startTime === exp.timestamp && x.operationName === exp.name);
        const w = `${t.variant} ${role}`;
        assert.ok(s, `${w}: missing (${exp.name} at ${exp.timestamp})`);
        assert.equal(tr.processes[s.processID]?.serviceName, exp.localEndpoint.serviceName, `${w}: service`);
        assert.equal(s.duration, exp.duration, `${w}: duration`);
        assert.equal(s.tags.find((x) => x.key === 'span.kind')?.value, exp.kind.toLowerCase(), `${w}: span.kind`);
        for (const [k, v] of Object.entries(exp.tags)) {
          if (k === 'error') continue; // Jaeger may show error as a bool
          const tag = s.tags.find((x) => x.key === k);
          assert.deepEqual(tag && { type: tag.type, value: tag.value }, { type: 'string', value: v }, `${w}: tag ${k}`);
        }
        if (exp.tags.error) {
          const e = s.tags.find((x) => x.key === 'error');
          assert.ok(e && (e.value === true || e.value === 'true'), `${w}: error tag ${JSON.stringify(e)}`);
        }
        if (!t.variant.startsWith('shared')) assert.equal(s.spanID, exp.id, `${w}: spanID`);
        byRole[role] = s;
      }
      // The tree: each span's first CHILD_OF is its caller (for shared ids,
      // the renamed server half sits below its client half).
      const parentOf = { G2: 'G1', P1: 'G2', P2: 'P1', D1: 'P2', P3: 'P1', R1: 'P3', R2: 'R1', T1: 'R2' };
      assert.equal((byRole.G1.references || []).filter((r) => r.refType === 'CHILD_OF').length, 0, 'G1 is the root');
      for (const [role, parent] of Object.entries(parentOf)) {
        const ref = (byRole[role].references || []).find((r) => r.refType === 'CHILD_OF');
        assert.equal(ref?.spanID, byRole[parent].spanID, `${t.variant}: parent of ${role} should be ${parent}`);
        assert.equal(ref?.traceID, t.traceId);
      }
    }
  }));

  it('lists services and operations', logged(srv, async () => {
    assert.deepEqual((await getJson(ml.url, '/api/services')).data.sort(), Object.values(SVC).sort());
    assert.deepEqual((await getJson(ml.url, '/api/v2/services')).sort(), Object.values(SVC).sort());
    const ops = (await getJson(ml.url, `/api/services/${SVC.productpage}/operations`)).data.sort();
    assert.deepEqual(ops, [opName('details', '/*'), opName('productpage', '/productpage'), opName('reviews', '/*')].sort());
    const clientOps = (await getJson(ml.url, `/api/operations${qs({ service: SVC.productpage, spanKind: 'client' })}`)).data;
    assert.deepEqual(
      clientOps.sort((a, b) => a.name.localeCompare(b.name)),
      [{ name: opName('details', '/*'), spanKind: 'client' }, { name: opName('reviews', '/*'), spanKind: 'client' }],
    );
    const zNames = (await getJson(ml.url, `/api/v2/spans${qs({ serviceName: SVC.reviews })}`)).sort();
    assert.deepEqual(zNames, [opName('ratings', '/*'), opName('reviews', '/*')].sort());
  }));

  const jaeger = async (p) => {
    const body = await getJson(ml.url, `/api/traces${qs({ limit: 20, ...p })}`);
    for (const t of body.data) assert.equal(t.spans.length, 9, `search result ${t.traceID} must be whole`);
    return body.data.map((t) => t.traceID).sort();
  };
  const zipkin = async (p) => {
    const traces = await getJson(ml.url, `/api/v2/traces${qs(p)}`);
    for (const t of traces) assert.equal(t.length, 9, `search result ${t[0]?.traceId} must be whole`);
    return traces.map((t) => t[0].traceId).sort();
  };

  it('finds traces by service, operation and tag (Jaeger)', logged(srv, async () => {
    assert.deepEqual(await jaeger({ service: SVC.ratings }), ALL);
    assert.deepEqual(await jaeger({ service: SVC.gateway, operation: opName('productpage', '/productpage') }), ALL);
    assert.deepEqual(await jaeger({ service: SVC.details, operation: opName('reviews', '/*') }), []);
    assert.deepEqual(await jaeger({ service: SVC.ratings, tags: JSON.stringify({ 'http.status_code': '500' }) }), [ERR.traceId]);
    assert.deepEqual(await jaeger({ service: SVC.reviews, tags: JSON.stringify({ 'http.status_code': '500' }) }), [ERR.traceId]);
    assert.deepEqual(await jaeger({ service: SVC.details, tags: JSON.stringify({ 'http.status_code': '500' }) }), []);
    assert.deepEqual(await jaeger({ service: SVC.ratings, tags: JSON.stringify({ error: 'true' }) }), [ERR.traceId]);
    assert.deepEqual(await jaeger({ service: SVC.ratings, tags: JSON.stringify({ response_flags: 'URX' }) }), [ERR.traceId]);
    assert.deepEqual(await jaeger({ service: SVC.productpage, tags: JSON.stringify({ 'guid:x-request-id': OK.requestId }) }), [OK.traceId]);
    assert.deepEqual(
      await jaeger({ service: SVC.reviews, tags: JSON.stringify({ 'istio.canonical_service': 'reviews', 'istio.canonical_revision': 'v2' }) }),
      ALL,
    );
    assert.deepEqual(
      await jaeger({ service: SVC.productpage, tags: JSON.stringify({ upstream_cluster: 'outbound|9080||details.default.svc.cluster.local' }) }),
      ALL,
    );
    assert.deepEqual(await jaeger({ service: SVC.productpage, tags: JSON.stringify({ 'istio.namespace': 'istio-system' }) }), []);
    // Jaeger's legacy repeated tag=key:value parameter.
    assert.deepEqual(await jaeger({ service: SVC.ratings, tag: 'http.status_code:500' }), [ERR.traceId]);
  }));

  it('finds traces by duration (Jaeger)', logged(srv, async () => {
    const op = { service: SVC.ratings, operation: opName('ratings', '/*') };
    assert.deepEqual(await jaeger({ ...op, minDuration: '20ms' }), [ERR.traceId]);
    assert.deepEqual(await jaeger({ ...op, maxDuration: '10ms' }), [OK.traceId, SHARED.traceId].sort());
    assert.deepEqual(await jaeger({ ...op, minDuration: '4.5ms', maxDuration: '10ms' }), [SHARED.traceId]);
    assert.deepEqual(await jaeger({ ...op, minDuration: '4200us', maxDuration: '4200us' }), [OK.traceId]);
    assert.deepEqual(await jaeger({ ...op, minDuration: '1s' }), []);
    const start = BASE_US;
    assert.deepEqual(await jaeger({ ...op, start, end: BASE_US + 2_500_000 }), [OK.traceId, ERR.traceId].sort(), 'start/end in µs');
  }));

  it('finds traces through the Zipkin API', logged(srv, async () => {
    assert.deepEqual(await zipkin({ serviceName: SVC.ratings }), ALL);
    assert.deepEqual(await zipkin({ serviceName: SVC.ratings, spanName: opName('ratings', '/*') }), ALL);
    assert.deepEqual(await zipkin({ serviceName: SVC.ratings, annotationQuery: 'http.status_code=500' }), [ERR.traceId]);
    assert.deepEqual(await zipkin({ serviceName: SVC.ratings, annotationQuery: 'error' }), [ERR.traceId]);
    assert.deepEqual(
      await zipkin({ serviceName: SVC.reviews, annotationQuery: 'istio.canonical_revision=v2 and http.status_code=500' }),
      [ERR.traceId],
    );
    assert.deepEqual(await zipkin({ serviceName: SVC.ratings, minDuration: 20_000 }), [ERR.traceId]);
    assert.deepEqual(await zipkin({ serviceName: SVC.ratings, spanName: opName('ratings', '/*'), maxDuration: 10_000 }), [OK.traceId, SHARED.traceId].sort());
    assert.deepEqual(await zipkin({ serviceName: SVC.ratings, limit: 1 }).then((x) => x.length), 1);
    const many = await getJson(ml.url, `/api/v2/traceMany${qs({ traceIds: `${OK.traceId},${SHARED.traceId}` })}`);
    assert.deepEqual(many.map((t) => t[0].traceId).sort(), [OK.traceId, SHARED.traceId].sort());
    for (const t of many) assert.equal(t.length, 9);
  }));

  const nowMs = () => Date.now();
  const EDGES = [
    [SVC.gateway, SVC.productpage],
    [SVC.productpage, SVC.details],
    [SVC.productpage, SVC.reviews],
    [SVC.reviews, SVC.ratings],
  ].map(([p, c]) => `${p} -> ${c}`).sort();

  it('derives dependency links (Jaeger /api/dependencies)', logged(srv, async () => {
    const body = await getJson(ml.url, `/api/dependencies${qs({ endTs: nowMs(), lookback: 3_600_000 })}`);
    const got = body.data.map((d) => `${d.parent} -> ${d.child}`).sort();
    assert.deepEqual(got, EDGES, JSON.stringify(body.data));
    for (const d of body.data) assert.equal(d.callCount, 3, `${d.parent} -> ${d.child}: one call per trace`);
    const old = await getJson(ml.url, `/api/dependencies${qs({ endTs: Math.floor(BASE_US / 1000) - 3_600_000, lookback: 3_600_000 })}`);
    assert.deepEqual(old.data, [], 'nothing in a window an hour before the traces');
  }));

  it('derives dependency links (Zipkin /api/v2/dependencies)', logged(srv, async () => {
    const links = await getJson(ml.url, `/api/v2/dependencies${qs({ endTs: nowMs(), lookback: 3_600_000 })}`);
    assert.deepEqual(links.map((d) => `${d.parent} -> ${d.child}`).sort(), EDGES, JSON.stringify(links));
    for (const d of links) {
      assert.equal(d.callCount, 3, `${d.parent} -> ${d.child}: callCount`);
      const errors = d.parent === SVC.reviews && d.child === SVC.ratings ? 1 : 0;
      assert.equal(d.errorCount ?? 0, errors, `${d.parent} -> ${d.child}: errorCount`);
    }
  }));

  it('lists remote service names given by a Zipkin client', logged(srv, async () => {
    const span = {
      traceId: '00000000000000000000000000c0ffee',
      id: '00000000000000e1',
      name: 'query',
      kind: 'CLIENT',
      timestamp: BASE_US,
      duration: 1200,
      localEndpoint: { serviceName: 'inventory' },
      remoteEndpoint: { serviceName: 'mysql', ipv4: '10.0.0.9', port: 3306 },
      tags: { 'db.statement': 'SELECT 1' },
    };
    const r = await request(ml.url, '/api/v2/spans', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify([span]),
    });
    assert.equal(r.status, 202, r.text);
    assert.deepEqual(await getJson(ml.url, `/api/v2/remoteServices${qs({ serviceName: 'inventory' })}`), ['mysql']);
    const got = await getJson(ml.url, `/api/v2/trace/${span.traceId}`);
    assert.deepEqual(got[0].remoteEndpoint, span.remoteEndpoint);
    // A 64-bit-looking id (high half zero) is found by its 16-digit form too.
    const short = await getJson(ml.url, `/api/v2/trace/0000000000c0ffee`);
    assert.equal(short[0]?.id, span.id);
  }));
});
