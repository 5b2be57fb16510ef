// A decode thread (see decode-pool.ts): checks OTLP/protobuf requests and returns, with each request's bytes, the
// plan of what to build from them. Nothing here keeps state between requests.
import { parentPort } from 'node:worker_threads';
import { scanTraces } from '../../otlp/otlp-decode.js';
import { InvalidArgumentError } from '../../storage/api/errors.js';
import type { ScanReply, ScanRequest } from './decode-pool.js';

const port = parentPort;
if (!port) throw new Error('decode-worker.js runs as a worker thread of the runtime');

port.on('message', (m: ScanRequest) => {
  const buf = Buffer.from(m.bytes, m.offset, m.length);
  let reply: ScanReply;
  try {
    const plan = scanTraces(buf);
    reply = { id: m.id, bytes: m.bytes, plan };
    port.postMessage(reply, [m.bytes, plan.rows.buffer as ArrayBuffer, plan.groups.buffer as ArrayBuffer]);
    return;
  } catch (e) {
    if (e instanceof InvalidArgumentError) reply = { id: m.id, bytes: m.bytes, invalid: { field: e.field, reason: e.reason } };
    else reply = { id: m.id, bytes: m.bytes, failed: e instanceof Error ? (e.stack ?? e.message) : String(e) };
  }
  port.postMessage(reply, [m.bytes]);
});
