// bookinfo.mjs - Zipkin v2 spans shaped exactly like the ones Istio's Envoy
// sidecars send for the Bookinfo sample (see REFERENCE.md): the call chain
//   istio-ingressgateway -> productpage -> details
//                           productpage -> reviews -> ratings
// with a CLIENT span on the calling proxy and a SERVER span on the called
// one for every hop (9 spans a trace). Variants:
//   ok      Istio's default ids (shared context off): the server span has a
//           new id whose parent is the client span; ratings answers in 4.2 ms
//   error   the same, but ratings answers 500 (URX) after 30 ms (error=true)
//   shared  Envoy's own default (shared context on): each server span reuses
//           its client span's id and parent, marked shared:true

import assert from 'node:assert/strict';

import { request } from './http.mjs';

export const BASE_US = (Math.floor(Date.now() / 1000) - 120) * 1_000_000;

export const SVC = {
  gateway: 'istio-ingressgateway.istio-system',
  productpage: 'productpage.default',
  details: 'details.default',
  reviews: 'reviews.default',
  ratings: 'ratings.default',
};
export const PODS = {
  gateway: { ip: '10.244.0.5', pod: 'istio-ingressgateway-5d8f7f6b6c-q2x7w', ns: 'istio-system', app: 'istio-ingressgateway', rev: 'latest' },
  productpage: { ip: '10.244.0.12', pod: 'productpage-v1-6b746f74dc-9stvs', ns: 'default', app: 'productpage', rev: 'v1' },
  details: { ip: '10.244.0.13', pod: 'details-v1-79f774bdb9-kd8rw', ns: 'default', app: 'details', rev: 'v1' },
  reviews: { ip: '10.244.0.14', pod: 'reviews-v2-5f9dbcd669-x7k2p', ns: 'default', app: 'reviews', rev: 'v2' },
  ratings: { ip: '10.244.0.15', pod: 'ratings-v1-b6994bb9-gl4zv', ns: 'default', app: 'ratings', rev: 'v1' },
};
export const opName = (to, path) => `${to}.default.svc.cluster.local:9080${path}`;

/** The tags Envoy + Istio put on a span of `proxy` for a call to `to`. */
function envoyTags(proxy, kind, to, path, { status, requestId, responseFlags = '-' }) {
  const p = PODS[proxy];
  const tags = {
    node_id: `${proxy === 'gateway' ? 'router' : 'sidecar'}~${p.ip}~${p.pod}.${p.ns}~${p.ns}.svc.cluster.local`,
    zone: 'us-east1-b',
    component: 'proxy',
    'guid:x-request-id': requestId,
    'http.url': `http://${to}:9080${path}`,
    'http.method': 'GET',
    'http.protocol': 'HTTP/1.1',
    downstream_cluster: '-',
    user_agent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36',
    'peer.address': kind === 'SERVER' ? '10.244.0.5' : p.ip,
    request_size: '0',
    response_size: status === 200 ? '1683' : '0',
    'http.status_code': String(status),
    response_flags: responseFlags,
    upstream_cluster: kind === 'SERVER' ? 'inbound|9080||' : `outbound|9080||${to}.default.svc.cluster.local`,
    'upstream_cluster.name': kind === 'SERVER' ? 'inbound|9080||' : `outbound|9080||${to}.default.svc.cluster.local`,
    upstream_address: kind === 'SERVER' ? `${p.ip}:9080` : '10.244.0.20:9080',
    'istio.canonical_service': p.app,
    'istio.canonical_revision': p.rev,
    'istio.mesh_id': 'cluster.local',
    'istio.namespace': p.ns,
    'istio.cluster_id': 'Kubernetes',
  };
  if (status >= 500) tags.error = 'true';
  return tags;
}

/**
 * One Bookinfo trace. variant: 'ok' | 'error' | 'shared'. Returns
 * {traceId, requestId, ratingsUs, spans (Zipkin v2 JSON objects), batches
 * (the spans grouped per proxy), roles (role -> span)}.
 */
export function bookinfoTrace(n, variant, baseUs = BASE_US) {
  const traceId = `4bf92f3577b34da6a3ce929d0e0e47${n.toString(16).padStart(2, '0')}`;
  const requestId = `9f1c3f0e-8f3a-4d2b-9a53-0c1d2e3f4a${n.toString(16).padStart(2, '0')}`;
  const shared = variant === 'shared';
  const ratingsUs = variant === 'error' ? 30_000 : variant === 'shared' ? 5_000 : 4_200;
  const ratingsStatus = variant === 'error' ? 500 : 200;
  const t0 = baseUs + n * 1_000_000;
  const id = (k) => `${n.toString(16).padStart(2, '0')}a1b2c3d4e5f6${k.toString(16).padStart(2, '0')}`;
  // role: [proxy, kind, callee, path, start offset, duration, status, parent role]
  const plan = [
    ['G1', 'gateway', 'SERVER', 'productpage', '/productpage', 0, 48_000, 200, null],
    ['G2', 'gateway', 'CLIENT', 'productpage', '/productpage', 500, 47_000, 200, 'G1'],
    ['P1', 'productpage', 'SERVER', 'productpage', '/productpage', 1_000, 46_000, 200, 'G2'],
    ['P2', 'productpage', 'CLIENT', 'details', '/details/0', 2_000, 6_000, 200, 'P1'],
    ['D1', 'details', 'SERVER', 'details', '/details/0', 2_500, 5_000, 200, 'P2'],
    ['P3', 'productpage', 'CLIENT', 'reviews', '/reviews/0', 9_000, 36_000, 200, 'P1'],
    ['R1', 'reviews', 'SERVER', 'reviews', '/reviews/0', 9_500, 35_000, 200, 'P3'],
    ['R2', 'reviews', 'CLIENT', 'ratings', '/ratings/0', 10_000, ratingsUs + 1_000, ratingsStatus, 'R1'],
    ['T1', 'ratings', 'SERVER', 'ratings', '/ratings/0', 10_500, ratingsUs, ratingsStatus, 'R2'],
  ];
  const roles = {};
  let k = 0;
  for (const [role, proxy, kind, callee, path, off, dur, status, parent] of plan) {
    const span = {
      traceId,
      name: role === 'G1' || role === 'G2' || role === 'P1' ? opName('productpage', path) : opName(callee, '/*'),
      kind,
      timestamp: t0 + off,
      duration: dur,
      localEndpoint: { serviceName: SVC[proxy], ipv4: PODS[proxy].ip },
      tags: envoyTags(proxy, kind, callee, path, { status, requestId, responseFlags: status >= 500 ? 'URX' : '-' }),
    };
    const isSharedServer = shared && kind === 'SERVER' && parent !== null;
    if (isSharedServer) {
      // The server half reuses the client's id and the client's parent.
      const client = roles[parent];
      span.id = client.id;
      if (client.parentId) span.parentId = client.parentId;
      span.shared = true;
    } else {
      span.id = id(++k);
      if (parent) span.parentId = roles[parent].id;
    }
    roles[role] = span;
  }
  const spans = Object.values(roles);
  const batches = Object.keys(SVC).map((proxy) => spans.filter((s) => s.localEndpoint.serviceName === SVC[proxy]));
  return { traceId, requestId, ratingsUs, spans, batches, roles, variant };
}


/** Posts every batch of the traces to meshlens's Zipkin endpoint as Envoy does, all at once; each must get 202. */
export async function postBookinfoTraces(url, traces) {
  const posts = [];
  for (const t of traces) {
    for (const batch of t.batches) {
      posts.push(
        request(url, '/api/v2/spans', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', 'User-Agent': 'Envoy/1.31' },
          body: JSON.stringify(batch),
        }),
      );
    }
  }
  for (const r of await Promise.all(posts)) assert.equal(r.status, 202, r.text);
}
