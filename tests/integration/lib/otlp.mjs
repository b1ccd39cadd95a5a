// otlp.mjs - hand-built OTLP trace requests for tests that need exact
// control of the bytes (truncation, wrong id lengths, many small batches):
// a minimal protobuf writer for ExportTraceServiceRequest following
// opentelemetry-proto trace/v1/trace.proto field numbers, the same request
// in OTLP/JSON, and a reader for the google.rpc.Status and
// ExportTraceServiceResponse answers.
//
// A span here is {traceId, spanId, parentSpanId?, name, kind, startUs,
// endUs, attrs?: {k: string|number|boolean}}; ids are hex strings and are
// written as given (so a wrong length stays wrong).

// ---- protobuf writer ----

function varint(n) {
  let v = BigInt(n);
  const out = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return Buffer.from(out);
}
const tag = (field, wire) => varint((field << 3) | wire);
const lenField = (field, buf) => Buffer.concat([tag(field, 2), varint(buf.length), buf]);
const strField = (field, s) => lenField(field, Buffer.from(s, 'utf8'));
const varintField = (field, n) => Buffer.concat([tag(field, 0), varint(n)]);
function fixed64Field(field, n) {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return Buffer.concat([tag(field, 1), b]);
}
function doubleField(field, d) {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(d);
  return Buffer.concat([tag(field, 1), b]);
}

function anyValue(v) {
  if (typeof v === 'string') return strField(1, v);
  if (typeof v === 'boolean') return varintField(2, v ? 1 : 0);
  if (Number.isInteger(v)) return varintField(3, BigInt.asUintN(64, BigInt(v)));
  return doubleField(4, v);
}
const keyValue = (k, v) => Buffer.concat([strField(1, k), lenField(2, anyValue(v))]);

function spanProto(s) {
  const parts = [
    lenField(1, Buffer.from(s.traceId, 'hex')),
    lenField(2, Buffer.from(s.spanId, 'hex')),
  ];
  if (s.parentSpanId) parts.push(lenField(4, Buffer.from(s.parentSpanId, 'hex')));
  parts.push(strField(5, s.name), varintField(6, s.kind ?? 1));
  parts.push(fixed64Field(7, BigInt(s.startUs) * 1000n), fixed64Field(8, BigInt(s.endUs) * 1000n));
  for (const [k, v] of Object.entries(s.attrs ?? {})) parts.push(lenField(9, keyValue(k, v)));
  return Buffer.concat(parts);
}

/** ExportTraceServiceRequest (protobuf) of one service's spans. */
export function traceRequestProto(service, spans) {
  const resource = lenField(1, keyValue('service.name', service));
  const scope = lenField(1, strField(1, 'meshlens-it'));
  const scopeSpans = Buffer.concat([scope, ...spans.map((s) => lenField(2, spanProto(s)))]);
  const resourceSpans = Buffer.concat([lenField(1, resource), lenField(2, scopeSpans)]);
  return lenField(1, resourceSpans);
}

// ---- OTLP/JSON ----

function anyValueJson(v) {
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Number.isInteger(v)) return { intValue: String(v) };
  return { doubleValue: v };
}

/** ExportTraceServiceRequest in OTLP/JSON (an object; JSON.stringify it). */
export function traceRequestJson(service, spans) {
  return {
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
        scopeSpans: [
          {
            scope: { name: 'meshlens-it' },
            spans: spans.map((s) => ({
              traceId: s.traceId,
              spanId: s.spanId,
              ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
              name: s.name,
              kind: s.kind ?? 1,
              startTimeUnixNano: String(BigInt(s.startUs) * 1000n),
              endTimeUnixNano: String(BigInt(s.endUs) * 1000n),
              attributes: Object.entries(s.attrs ?? {}).map(([key, v]) => ({ key, value: anyValueJson(v) })),
            })),
          },
        ],
      },
    ],
  };
}

// ---- protobuf reader (just enough for Status and the export response) ----

function readVarint(buf, pos) {
  let result = 0n;
  let shift = 0n;
  for (;;) {
    if (pos >= buf.length) throw new Error('truncated varint');
    const b = buf[pos++];
    result |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return [result, pos];
    shift += 7n;
  }
}

/** Top-level fields of a protobuf message: [{field, wire, value (BigInt | Buffer)}]. */
export function protoFields(buf) {
  const out = [];
  let pos = 0;
  while (pos < buf.length) {
    let key;
    [key, pos] = readVarint(buf, pos);
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (wire === 0) {
      let v;
      [v, pos] = readVarint(buf, pos);
      out.push({ field, wire, value: v });
    } else if (wire === 2) {
      let n;
      [n, pos] = readVarint(buf, pos);
      const end = pos + Number(n);
      if (end > buf.length) throw new Error('truncated field');
      out.push({ field, wire, value: buf.subarray(pos, end) });
      pos = end;
    } else if (wire === 1) {
      out.push({ field, wire, value: buf.subarray(pos, pos + 8) });
      pos += 8;
    } else if (wire === 5) {
      out.push({ field, wire, value: buf.subarray(pos, pos + 4) });
      pos += 4;
    } else {
      throw new Error(`unsupported wire type ${wire}`);
    }
  }
  return out;
}

/** google.rpc.Status {code, message} from its protobuf encoding. */
export function decodeStatus(buf) {
  const f = protoFields(buf);
  const code = f.find((x) => x.field === 1);
  const msg = f.find((x) => x.field === 2);
  return { code: code ? Number(code.value) : 0, message: msg ? msg.value.toString('utf8') : '' };
}

/** ExportTraceServiceResponse: {rejectedSpans, errorMessage} (0, '' when absent). */
export function decodeExportResponse(buf) {
  const ps = protoFields(buf).find((x) => x.field === 1);
  if (!ps) return { rejectedSpans: 0, errorMessage: '' };
  const f = protoFields(ps.value);
  const rej = f.find((x) => x.field === 1);
  const msg = f.find((x) => x.field === 2);
  return { rejectedSpans: rej ? Number(rej.value) : 0, errorMessage: msg ? msg.value.toString('utf8') : '' };
}

/** Deterministic pseudo-random bytes (xorshift32 from a fixed seed). */
export function seededBytes(n, seed) {
  let x = seed >>> 0 || 1;
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** Hex id of `bytes` bytes built from a number (distinct numbers, distinct ids). */
export function hexId(n, bytes, prefix = 'a') {
  const body = n.toString(16);
  return (prefix + '0'.repeat(bytes * 2)).slice(0, bytes * 2 - body.length) + body;
}
