// metrics.mjs - helpers for the metrics-path integration tests: probing
// which Prometheus read endpoints the binary under test serves, reading
// the stored series set (/api/v1/series, /api/v1/label/<name>/values) and
// instant queries, and a canonical form of a label set so that two series
// sets (meshlens's and a real Prometheus's) can be compared as sorted
// strings.

import { request } from './http.mjs';

/**
 * Which read endpoints answer a valid request with 200 (a missing route
 * gives 404/405, an unfinished one an error): {series, labelValues, query}.
 * A test keeps the assertions it can make.
 */
export async function readApi(url) {
  const present = async (p) => (await request(url, p)).status === 200;
  return {
    series: await present('/api/v1/series?match[]=up'),
    labelValues: await present('/api/v1/label/__name__/values'),
    query: await present('/api/v1/query?query=up'),
  };
}

/** GET /api/v1/series with one or more match[] selectors; returns data (a list of label objects). */
export async function series(url, ...matchers) {
  const q = matchers.map((m) => `match[]=${encodeURIComponent(m)}`).join('&');
  const r = await request(url, `/api/v1/series?${q}`);
  if (r.status !== 200) throw new Error(`GET /api/v1/series?${q}: ${r.status}: ${r.text.slice(0, 400)}`);
  const body = r.json();
  if (body.status !== 'success' || !Array.isArray(body.data)) {
    throw new Error(`GET /api/v1/series?${q}: not a success list: ${r.text.slice(0, 400)}`);
  }
  return body.data;
}

/** GET /api/v1/label/<name>/values; returns data (a list of strings). */
export async function labelValues(url, name) {
  const r = await request(url, `/api/v1/label/${encodeURIComponent(name)}/values`);
  if (r.status !== 200) throw new Error(`GET label ${name} values: ${r.status}: ${r.text.slice(0, 400)}`);
  return r.json().data;
}

/** Instant query; returns data.result (vector: [{metric, value:[t,"v"]}]). */
export async function instant(url, query, time) {
  const t = time === undefined ? '' : `&time=${time}`;
  const r = await request(url, `/api/v1/query?query=${encodeURIComponent(query)}${t}`);
  if (r.status !== 200) throw new Error(`query ${query}: ${r.status}: ${r.text.slice(0, 400)}`);
  return r.json().data.result;
}

/** A label object as one canonical string: sorted name="value" pairs. */
export function labelKey(labels) {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`)
    .join(',');
}

/** A list of label objects as a sorted list of canonical strings. */
export function seriesKeys(list) {
  return list.map(labelKey).sort();
}
