// compare.mjs - decides whether meshlens answered a PromQL query as
// Prometheus did, and says how not when it did not.
//
// Rules (Prometheus's answer is the reference):
// - the HTTP status and the envelope's status must be the same;
// - errors: the same errorType; the same message for execution errors
//   (docs/PROMQL.md promises Prometheus's texts); parse errors (bad_data)
//   only when the caller asks (compareErrorText), otherwise another text is
//   counted in stats.errorText;
// - success: the same resultType; scalars and strings the same [t, v];
//   vectors and matrices the same set of series (label sets exact), each
//   with the same timestamps and values; matrices (range queries) in the
//   same order, since Prometheus sorts them by labels; instant vectors in
//   the same order of values when the query's outermost call is sort() or
//   sort_desc() (ties may be ordered differently, so labels are compared
//   as a set);
// - values: NaN equals NaN, infinities exactly, integers (up to 2^40)
//   exactly, any other value within 1e-9 relative (summing in another order
//   changes the last bits, not the answer); the same double must be written
//   as the same text (Prometheus's number format).

const REL_TOL = 1e-9;

function num(s) {
  if (s === 'NaN') return NaN;
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  return Number(s);
}

/**
 * True when the sample value texts a (meshlens) and e (Prometheus) agree.
 * Two texts of the same double must also be the same text: Prometheus's
 * number format is part of the API.
 */
export function valuesEqual(a, e, stats) {
  if (a === e) return true;
  const x = num(a);
  const y = num(e);
  if (Number.isNaN(x) || Number.isNaN(y)) return Number.isNaN(x) && Number.isNaN(y);
  if (x === y) return false; // same number, other text
  if (!Number.isFinite(x) || !Number.isFinite(y)) return false;
  // Prometheus's integers exactly (counts, sums of counters). Not beyond
  // 2^40: there a last-bit difference of Go's math.Pow or math.Exp from C's
  // libm (both within 1 ulp) can land on an integer on one side only.
  if (Number.isInteger(y) && Math.abs(y) <= 2 ** 40) return false;
  const ok = Math.abs(x - y) <= REL_TOL * Math.max(Math.abs(x), Math.abs(y));
  if (ok && stats) stats.approx++;
  return ok;
}

/** Canonical text of a label set: sorted name="value" pairs. */
export function labelKey(metric) {
  return (
    '{' +
    Object.keys(metric)
      .sort()
      .map((k) => `${k}=${JSON.stringify(metric[k])}`)
      .join(',') +
    '}'
  );
}

function pointsDiff(key, got, exp, stats) {
  const diffs = [];
  if (got.length !== exp.length) diffs.push(`${key}: ${got.length} points, Prometheus has ${exp.length}`);
  const byT = new Map(got.map((p) => [p[0], p[1]]));
  for (const [t, v] of exp) {
    if (!byT.has(t)) diffs.push(`${key} @${t}: missing (Prometheus: ${v})`);
    else if (!valuesEqual(byT.get(t), v, stats)) diffs.push(`${key} @${t}: ${byT.get(t)}, Prometheus: ${v}`);
    byT.delete(t);
  }
  for (const [t, v] of byT) diffs.push(`${key} @${t}: ${v}, Prometheus has no point`);
  return diffs;
}

function seriesDiff(got, exp, pointsOf, stats) {
  const diffs = [];
  const g = new Map();
  for (const s of got) {
    const k = labelKey(s.metric);
    if (g.has(k)) diffs.push(`series ${k} appears twice in meshlens's answer`);
    g.set(k, s);
  }
  const seen = new Set();
  for (const s of exp) {
    const k = labelKey(s.metric);
    seen.add(k);
    if (!g.has(k)) {
      diffs.push(`missing series ${k} (Prometheus: ${JSON.stringify(pointsOf(s)).slice(0, 200)})`);
      continue;
    }
    diffs.push(...pointsDiff(k, pointsOf(g.get(k)), pointsOf(s), stats));
  }
  for (const [k, s] of g) {
    if (!seen.has(k)) diffs.push(`extra series ${k} (meshlens: ${JSON.stringify(pointsOf(s)).slice(0, 200)})`);
  }
  return diffs;
}

/** True when the query's outermost function is sort or sort_desc. */
export function isSorted(query) {
  return /^\s*sort(_desc)?\s*\(/i.test(query);
}

/**
 * "found duplicate series for the match group {..} on the right hand-side of
 * the operation: [a, b]": which two series Prometheus names depends on the
 * order of its intermediate series, which in range queries is Go's map
 * iteration order (it differs between runs of Prometheus itself). The same
 * error on the same match group and side is the same answer.
 */
function sameDuplicateError(a, b) {
  const cut = (t) => {
    const m = /^(found duplicate series for the match group .* hand-side of the operation: )\[/.exec(t);
    return m ? m[1] : null;
  };
  return cut(a) !== null && cut(a) === cut(b);
}

/**
 * Compares two answers {status (HTTP), body (parsed JSON)}. Returns a list
 * of differences, empty when they agree. stats (when given): approx counts
 * the values that agree only within the tolerance, errorText collects the
 * bad_data messages that differ.
 */
export function compareAnswers(query, got, exp, { compareErrorText = false, range = false, stats = null } = {}) {
  const diffs = [];
  const gb = got.body;
  const eb = exp.body;
  if (!gb || typeof gb !== 'object') return [`meshlens answered ${got.status} with no JSON: ${String(got.text).slice(0, 300)}`];
  if (gb.status !== eb.status || got.status !== exp.status) {
    const say = (b, st) => (b.status === 'error' ? `${st} ${b.errorType}: ${b.error}` : `${st} ${b.status} ${b.data?.resultType}`);
    return [`meshlens: ${say(gb, got.status)}; Prometheus: ${say(eb, exp.status)}`];
  }
  if (eb.status === 'error') {
    if (gb.errorType !== eb.errorType) {
      diffs.push(`errorType ${gb.errorType} (${gb.error}), Prometheus: ${eb.errorType} (${eb.error})`);
    } else if (gb.error !== eb.error && !sameDuplicateError(gb.error, eb.error)) {
      const text = `error text:\n  meshlens:   ${gb.error}\n  Prometheus: ${eb.error}`;
      if (compareErrorText || eb.errorType === 'execution') diffs.push(text);
      else if (stats) stats.errorText.push(text);
    }
    return diffs;
  }
  const gd = gb.data;
  const ed = eb.data;
  if (gd.resultType !== ed.resultType) return [`resultType ${gd.resultType}, Prometheus: ${ed.resultType}`];
  switch (ed.resultType) {
    case 'scalar':
    case 'string':
      if (gd.result[0] !== ed.result[0]) diffs.push(`time ${gd.result[0]}, Prometheus: ${ed.result[0]}`);
      if (ed.resultType === 'string' ? gd.result[1] !== ed.result[1] : !valuesEqual(gd.result[1], ed.result[1], stats))
        diffs.push(`value ${gd.result[1]}, Prometheus: ${ed.result[1]}`);
      break;
    case 'vector':
      diffs.push(...seriesDiff(gd.result, ed.result, (s) => [s.value], stats));
      if (!diffs.length && isSorted(query)) {
        const gv = gd.result.map((s) => s.value[1]);
        const ev = ed.result.map((s) => s.value[1]);
        if (gv.some((v, i) => !valuesEqual(v, ev[i]))) diffs.push(`order of values [${gv}], Prometheus: [${ev}]`);
      }
      break;
    case 'matrix':
      diffs.push(...seriesDiff(gd.result, ed.result, (s) => s.values, stats));
      if (!diffs.length && range) {
        const gk = gd.result.map((s) => labelKey(s.metric));
        const ek = ed.result.map((s) => labelKey(s.metric));
        if (gk.join('\n') !== ek.join('\n')) diffs.push(`series order:\n  meshlens:   ${gk.join(' ')}\n  Prometheus: ${ek.join(' ')}`);
      }
      break;
    default:
      diffs.push(`unknown resultType ${ed.resultType}`);
  }
  return diffs;
}
