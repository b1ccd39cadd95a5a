// http.mjs - a small HTTP/1.1 client for the tests, on node:http, where
// fetch would hide what is under test: it sends exactly the headers given
// (fetch adds a text/plain Content-Type to string bodies), can send a body
// with Transfer-Encoding: chunked in several pieces (as the OpenTelemetry
// JS exporters do), and uses a new connection per request so that one
// test's error answer cannot disturb the next request.

import http from 'node:http';

const REQUEST_TIMEOUT_MS = 20000;

/**
 * Sends one request. opts: method (GET), headers ({}), body (Buffer |
 * string | undefined), chunks (array of Buffers: sent chunked, no
 * Content-Length). Resolves {status, headers, body (Buffer), text, json()}.
 */
export function request(baseUrl, path, opts = {}) {
  const { method = 'GET', headers = {}, body, chunks } = opts;
  const url = new URL(path, baseUrl);
  return new Promise((resolve, reject) => {
    const hdrs = { ...headers };
    let payload = null;
    if (chunks) {
      hdrs['Transfer-Encoding'] = 'chunked';
    } else if (body !== undefined) {
      payload = Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
      hdrs['Content-Length'] = String(payload.length);
    }
    const req = http.request(url, { method, headers: hdrs, agent: false });
    let answered = false;
    req.setTimeout(REQUEST_TIMEOUT_MS, () => {
      req.destroy(new Error(`${method} ${path}: no answer within ${REQUEST_TIMEOUT_MS} ms`));
    });
    req.on('response', (res) => {
      answered = true;
      const parts = [];
      res.on('data', (c) => parts.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const buf = Buffer.concat(parts);
        const text = buf.toString('utf8');
        resolve({
          status: res.statusCode,
          headers: res.headers,
          body: buf,
          text,
          json() {
            try {
              return JSON.parse(text);
            } catch (e) {
              throw new Error(`${method} ${path}: answer is not JSON (${e.message}): ${text.slice(0, 300)}`);
            }
          },
        });
      });
    });
    req.on('error', (err) => {
      // A server that answers early (413) may close while the body is still
      // being written; the answer already received is what counts.
      if (!answered) reject(new Error(`${method} ${path}: ${err.message}`));
    });
    if (chunks) {
      for (const c of chunks) req.write(c);
      req.end();
    } else {
      req.end(payload ?? undefined);
    }
  });
}

/** GET path and parse JSON, asserting the status (200 unless given). */
export async function getJson(baseUrl, path, status = 200) {
  const r = await request(baseUrl, path);
  if (r.status !== status) {
    throw new Error(`GET ${path}: expected ${status}, got ${r.status}: ${r.text.slice(0, 500)}`);
  }
  return r.json();
}

/** Builds a query string from an object, skipping undefined values. */
export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) u.append(k, String(x));
    else u.append(k, String(v));
  }
  const s = u.toString();
  return s ? `?${s}` : '';
}
