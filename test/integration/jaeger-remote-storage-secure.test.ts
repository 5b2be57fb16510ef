// A stock Jaeger v2 (grpc storage backend) against remote storage secured with TLS and a bearer token: Jaeger's
// own gRPC client (CA file, `authorization` header) writes and reads through us. (Without the token its query
// APIs answer 500 from our UNAUTHENTICATED, which test/env/jaeger.ts reads as "not started"; the refusal itself
// is tested in listener-security.test.ts.)
import type { RunningRuntime } from '../../src/runtime/server.js';
import { encodeTracesJson } from '../../src/otlp/otlp-json.js';
import { SHOP_TRACE, loadFixtures } from '../../src/storage/testing/fixtures.js';
import { type RunningJaeger, startJaeger } from '../env/jaeger.js';
import { type TestPki, startSecuredRemoteStorage, testPki, waitFor } from '../helpers.js';

let rt: RunningRuntime;
let pki: TestPki;
const jaegers: RunningJaeger[] = [];

const grpcBackend = (ep: string, caFile: string, token: string) => {
  const client = (indent: string) =>
    [`endpoint: ${ep}`, 'tls:', `  ca_file: ${caFile}`, 'headers:', `  authorization: "Bearer ${token}"`].map((l) => indent + l).join('\n');
  return `        grpc:\n${client('          ')}\n          writer:\n${client('            ')}`;
};

beforeAll(async () => {
  pki = testPki();
  rt = await startSecuredRemoteStorage(pki, 'jaeger-token');
}, 60_000);

afterAll(async () => {
  for (const j of jaegers) await j.stop();
  await rt?.stop();
});

async function sendTo(jaeger: RunningJaeger): Promise<void> {
  const fx = loadFixtures(BigInt(Date.now()) * 1_000_000n);
  const r = await fetch(`http://127.0.0.1:${jaeger.otlpHttp}/v1/traces`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(encodeTracesJson(fx.batches.find((b) => b.name === 'shop')!.traces)) });
  expect(r.status).toBe(200);
}

async function spansWeHold(): Promise<number> {
  let n = 0;
  for await (const b of rt.backend.traceReader().getTraces([{ traceId: SHOP_TRACE }])) for (const c of b) for (const r of c.resourceSpans) for (const s of r.scopeSpans) n += s.spans.length;
  return n;
}

it('with the CA and the token Jaeger writes and reads through us over TLS', async () => {
  const jaeger = await startJaeger(grpcBackend(`127.0.0.1:${rt.ports.remoteStorage}`, pki.caFile, 'jaeger-token'));
  jaegers.push(jaeger);
  await sendTo(jaeger);
  await waitFor('the shop trace stored by our runtime', async () => (await spansWeHold()) === 6, 20_000);
  const r = await fetch(`http://127.0.0.1:${jaeger.queryHttp}/api/v3/traces/${SHOP_TRACE}`);
  expect(r.status).toBe(200);
  const body = (await r.json()) as { result: { resourceSpans: { scopeSpans: { spans: unknown[] }[] }[] } };
  expect(body.result.resourceSpans.flatMap((x) => x.scopeSpans.flatMap((s) => s.spans))).toHaveLength(6);
}, 60_000);
