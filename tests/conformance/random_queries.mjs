// random_queries.mjs - nested PromQL queries drawn from a fixed-seed PRNG
// over the series of gen_data.mjs: selectors with offsets, range functions,
// subqueries, element-wise functions, aggregations with by/without,
// topk/bottomk and binary operators with on/ignoring. Not part of the
// corpus: promql_conformance.test.mjs appends them when CONFORMANCE_RANDOM=<n>
// is set, to hunt for differences beyond queries.txt. Expect a few that are
// not bugs (docs/PROMQL.md): ties of topk/bottomk and float sums in range
// queries, where Prometheus feeds aggregations in Go map order, and match
// group error texts longer than meshlens keeps.

import { prng } from '../integration/lib/prng.mjs';

const SELECTORS = [
  'conf_gauge',
  'conf_int',
  'conf_resets_total',
  'up',
  'istio_requests_total{reporter="destination"}',
  'traces_spanmetrics_calls_total',
  'conf_step',
  'namespace_workload:istio_requests:rate5m',
  'traces_service_graph_request_total',
];
const RANGES = ['30s', '1m', '3m', '5m', '11m'];
const RANGE_FNS = ['rate', 'irate', 'increase', 'delta', 'deriv', 'avg_over_time', 'max_over_time', 'min_over_time', 'sum_over_time', 'count_over_time', 'stddev_over_time', 'last_over_time', 'changes', 'resets', 'idelta'];
const FNS = ['abs', 'ceil', 'floor', 'sqrt', 'ln', 'exp', 'sgn', 'round', 'timestamp', 'sort', 'sort_desc', '-'];
const AGGS = ['sum', 'avg', 'min', 'max', 'count', 'stddev', 'group'];
const LABELS = ['job', 'instance', 'kind', 'destination_workload', 'reporter', 'service', 'le', '__name__'];
const OPS = ['+', '-', '*', '/', '>', '<', '== bool', '> bool', 'and', 'or', 'unless'];

/** n distinct queries, nested up to `depth`, from `seed`. */
export function randomQueries(n, seed = 12345, depth = 3) {
  const rnd = prng(seed);
  const pick = (xs) => xs[Math.floor(rnd() * xs.length)];
  const vec = (d) => {
    const r = rnd();
    if (d <= 0 || r < 0.25) return pick(SELECTORS) + (rnd() < 0.2 ? ` offset ${pick(['1m', '7m', '-2m'])}` : '');
    if (r < 0.45) return `${pick(RANGE_FNS)}(${pick(SELECTORS)}[${pick(RANGES)}])`;
    if (r < 0.55) {
      const f = pick(RANGE_FNS.filter((x) => x.endsWith('over_time') || x === 'rate'));
      return `${f}((${vec(d - 1)})[${pick(['5m', '10m'])}:${pick(['30s', '1m', '45s'])}])`;
    }
    if (r < 0.65) {
      const f = pick(FNS);
      return f === '-' ? `-(${vec(d - 1)})` : `${f}(${vec(d - 1)})`;
    }
    if (r < 0.82) {
      const g = rnd() < 0.5 ? ` by (${pick(LABELS)})` : rnd() < 0.5 ? ` without (${pick(LABELS)})` : '';
      return `${pick(AGGS)}${g} (${vec(d - 1)})`;
    }
    if (r < 0.9) return `${pick(['topk', 'bottomk'])}(${1 + Math.floor(rnd() * 3)}, ${vec(d - 1)})`;
    const op = pick(OPS);
    const setOp = ['and', 'or', 'unless'].includes(op);
    const m = rnd() < 0.4 ? ` ${pick(['on', 'ignoring'])}(${pick(LABELS)})` : '';
    const rhs = rnd() < 0.3 && !setOp ? String(Math.round(rnd() * 100) / 10) : vec(d - 1);
    return `(${vec(d - 1)}) ${op}${m} (${rhs})`;
  };
  const out = new Set();
  for (let tries = 0; out.size < n && tries < n * 20; tries++) out.add(vec(depth));
  return [...out];
}
