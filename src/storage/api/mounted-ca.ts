// The CA bundle a backend's runtime reads from the Secret the operator mounts (BACKEND_CA_DIR, or $JSO_BACKEND_CA_DIR
// for a runtime outside a container), with an error naming the config field when it is not there.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BACKEND_CA_DIR, BACKEND_CA_DIR_ENV } from '../../api/backend-plugin.js';
import { InvalidArgumentError } from './errors.js';

/** The PEM of `key` in the mounted CA Secret; `field` names the config field that asked for it. */
export function readMountedCa(key: string, field: string, env: NodeJS.ProcessEnv, caDir = env[BACKEND_CA_DIR_ENV] ?? BACKEND_CA_DIR): string {
  const file = join(caDir, key);
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new InvalidArgumentError(field, `cannot read the CA bundle at ${file} (${e instanceof Error ? e.message : String(e)}): is the Secret mounted?`);
  }
}
