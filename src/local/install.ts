// Installs the CRDs (server-side apply) and waits until the API server serves them.
import { backendAvailability } from '../api/backend-plugin.js';
import { allCrds } from '../api/crds.js';
import { type KubeClient, resourcePath } from '../kube/client.js';
import { CRDS } from '../kube/resources.js';
import { PLUGINS } from '../storage/plugins.js';


interface CrdStatus {
  status?: { conditions?: { type: string; status: string }[] };
}

export async function installCrds(client: KubeClient, fieldManager = 'jaeger-storage-operator', timeoutMs = 60_000): Promise<void> {
  const crds = allCrds(backendAvailability(PLUGINS));
  for (const crd of crds) {
    const name = (crd.metadata as { name: string }).name;
    await client.apply(resourcePath(CRDS, undefined, name), crd, fieldManager);
  }
  const deadline = Date.now() + timeoutMs;
  for (const crd of crds) {
    const name = (crd.metadata as { name: string }).name;
    for (;;) {
      const got = await client.get<CrdStatus>(resourcePath(CRDS, undefined, name));
      if (got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline) throw new Error(`CRD ${name} was not established within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
