// The operator's check of an Elasticsearch/OpenSearch backend (see src/api/backend-probe.ts): connect, make sure
// the server is the product the spec names, provision, and report the stage reached.
import type { BackendProbe, ProbeOutcome, ProbeRequest } from '../../api/backend-probe.js';
import { AuthError, UnsupportedVersionError } from './client.js';
import { searchSettings } from './config.js';
import { SCHEMA_VERSION } from './provision.js';
import { SearchBackend } from './store.js';

async function probe(req: ProbeRequest): Promise<ProbeOutcome> {
  const secret = { ...(req.username !== undefined ? { username: req.username, password: req.password ?? '' } : {}), ...(req.ca ? { ca: req.ca } : {}) };
  const backend = new SearchBackend(req.type, { ...searchSettings(req.spec, req.retention, secret), requestTimeoutMs: 15_000 });
  try {
    let server;
    try {
      const info = await backend.store.client.connect();
      server = { distribution: info.distribution, version: info.version };
    } catch (error) {
      return { stage: 'connect', reason: error instanceof AuthError ? 'AuthenticationFailed' : error instanceof UnsupportedVersionError ? 'UnsupportedVersion' : 'Unreachable', error };
    }
    if (server.distribution !== req.type) return { stage: 'wrongProduct', ...server };
    try {
      await backend.provision();
    } catch (error) {
      return { stage: 'provision', error, ...server };
    }
    const p = backend.provisioned!;
    return { stage: 'ready', schemaVersion: p.schemaVersion, lifecycle: p.lifecycle, ...server };
  } finally {
    await backend.close();
  }
}

export const searchProbe: BackendProbe = { schemaVersion: SCHEMA_VERSION, probe };
