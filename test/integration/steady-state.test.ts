// No hot loop: once 50 TraceStores are reconciled, the operator writes nothing more, neither by its own count
// nor in the API server's audit log, and a forced resync of every key costs no API request.
import { createNamespace, applyStore, auditedWrites, memoryStore, startInProcessOperator, testClient, waitReady } from '../helpers.js';

const QUIET_MS = 30_000;

it('writes nothing to the API server in steady state with 50 TraceStores', async () => {
  const client = testClient();
  const ns = await createNamespace(client, 'steady');
  const op = await startInProcessOperator(ns, { workers: 4 });
  try {
    const names = Array.from({ length: 50 }, (_, i) => `steady-${i}`);
    await Promise.all(names.map((n) => applyStore(client, memoryStore(n, ns))));
    for (const n of names) await waitReady(client, ns, n, 120_000);
    // let trailing Deployment status updates and our last status writes settle
    await new Promise((r) => setTimeout(r, 3000));

    const ours = (e: { userAgent?: string; objectRef?: { namespace?: string } }) => (e.userAgent ?? '').startsWith('jaeger-storage-operator') && e.objectRef?.namespace === ns;
    const startedAt = new Date().toISOString();
    const writesBefore = op.client.stats.writes;
    const getsBefore = op.client.stats.gets;
    // prom-client hands out live objects: sum them into numbers at once
    const reconciles = async () => (await op.metrics.reconcileTotal.get()).values.reduce((a, v) => a + v.value, 0);
    const reconcilesBefore = await reconciles();

    // a full resync halfway: every key reconciled again must be answered from the caches
    await new Promise((r) => setTimeout(r, QUIET_MS / 2));
    for (const n of names) op.controller.enqueue(`${ns}/${n}`);
    await new Promise((r) => setTimeout(r, QUIET_MS / 2));

    const resyncReconciles = (await reconciles()) - reconcilesBefore;
    expect(resyncReconciles).toBeGreaterThanOrEqual(names.length);

    expect(op.client.stats.writes - writesBefore).toBe(0);
    // reconcile reads only from the informer caches: no single-object GET at all (an informer may LIST and WATCH
    // again when the server closes a watch, e.g. when another test file updates the CRD)
    expect(op.client.stats.gets - getsBefore).toBe(0);
    await new Promise((r) => setTimeout(r, 1500)); // audit log is flushed in batches of at most 1 s
    const serverSide = auditedWrites((e) => ours(e) && e.stageTimestamp > startedAt);
    expect(serverSide).toEqual([]);
    // the audit log does record this operator's writes (so the empty result above means something)
    expect(auditedWrites(ours).length).toBeGreaterThanOrEqual(names.length * 4);
    process.stderr.write(`steady state: ${resyncReconciles} reconciles in ${QUIET_MS / 1000} s, 0 API requests, 0 writes\n`);
  } finally {
    await op.stop();
    client.close();
  }
}, 240_000);
