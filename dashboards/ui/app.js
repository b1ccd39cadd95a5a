// meshlens web UI: trace search and trace view over meshlens's Jaeger API.
'use strict';

const $ = (id) => document.getElementById(id);

async function api(path) {
  const r = await fetch(path);
  const body = await r.json();
  if (!r.ok) throw new Error((body.errors && body.errors[0].msg) || r.statusText);
  return body.data;
}

async function loadServices() {
  const services = await api('/api/services');
  $('service').innerHTML = services.map((s) => `<option>${esc(s)}</option>`).join('');
  if (services.length) await loadOperations();
}

async function loadOperations() {
  const ops = await api(`/api/services/${encodeURIComponent($('service').value)}/operations`);
  $('operation').innerHTML = '<option value="">all</option>' +
    ops.map((o) => `<option>${esc(o)}</option>`).join('');
}

function esc(s) {
  return String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]));
}

function tagsParam(text) {
  const tags = {};
  for (const part of text.trim().split(/\s+/).filter(Boolean)) {
    const i = part.indexOf('=');
    if (i > 0) tags[part.slice(0, i)] = part.slice(i + 1);
  }
  return Object.keys(tags).length ? JSON.stringify(tags) : '';
}

function isError(span) {
  return span.tags.some((t) => t.key === 'error' && (t.value === true || t.value === 'true'));
}

async function search(ev) {
  if (ev) ev.preventDefault();
  const q = new URLSearchParams({ service: $('service').value, limit: $('limit').value || '20' });
  if ($('operation').value) q.set('operation', $('operation').value);
  const tags = tagsParam($('tags').value);
  if (tags) q.set('tags', tags);
  if ($('minDuration').value) q.set('minDuration', $('minDuration').value);
  const traces = await api(`/api/traces?${q}`);
  $('results').querySelector('tbody').innerHTML = traces.map((t) => {
    const root = t.spans.reduce((a, b) => (b.startTime < a.startTime ? b : a));
    const end = Math.max(...t.spans.map((s) => s.startTime + s.duration));
    const svc = t.processes[root.processID].serviceName;
    const err = t.spans.some(isError) ? ' class="error"' : '';
    return `<tr${err} data-id="${t.traceID}"><td><a href="#trace/${t.traceID}">${t.traceID.slice(0, 12)}</a></td>` +
      `<td>${esc(svc)}: ${esc(root.operationName)}</td><td>${t.spans.length}</td>` +
      `<td>${((end - root.startTime) / 1000).toFixed(2)} ms</td>` +
      `<td>${new Date(root.startTime / 1000).toISOString()}</td></tr>`;
  }).join('');
}

async function showTrace(id) {
  const [t] = await api(`/api/traces/${id}`);
  const start = Math.min(...t.spans.map((s) => s.startTime));
  const end = Math.max(...t.spans.map((s) => s.startTime + s.duration));
  const total = Math.max(end - start, 1);
  const depth = {};
  const byId = Object.fromEntries(t.spans.map((s) => [s.spanID, s]));
  const level = (s) => {
    if (depth[s.spanID] !== undefined) return depth[s.spanID];
    depth[s.spanID] = 0;
    const ref = (s.references || []).find((r) => r.refType === 'CHILD_OF' && byId[r.spanID]);
    depth[s.spanID] = ref ? level(byId[ref.spanID]) + 1 : 0;
    return depth[s.spanID];
  };
  const spans = [...t.spans].sort((a, b) => a.startTime - b.startTime);
  $('trace').innerHTML = `<h2>Trace ${t.traceID}</h2>` + spans.map((s) => {
    const left = ((s.startTime - start) / total) * 100;
    const width = Math.max((s.duration / total) * 100, 0.3);
    return `<div class="span"><div style="padding-left:${level(s)}rem">${esc(t.processes[s.processID].serviceName)}: ${esc(s.operationName)}` +
      ` (${(s.duration / 1000).toFixed(2)} ms)</div><div><div class="bar${isError(s) ? ' error' : ''}" style="margin-left:${left}%;width:${width}%"></div></div></div>`;
  }).join('');
}

function route() {
  const m = location.hash.match(/^#trace\/([0-9a-f]+)$/);
  if (m) showTrace(m[1]).catch((e) => { $('trace').textContent = e.message; });
}

$('search').addEventListener('submit', (ev) => search(ev).catch((e) => alert(e.message)));
$('service').addEventListener('change', () => loadOperations());
window.addEventListener('hashchange', route);
loadServices().then(route).catch((e) => { $('trace').textContent = e.message; });
