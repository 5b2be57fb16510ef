// Where the telemetrygen binary built by test/env/build-telemetrygen.sh lives; a missing one fails loudly with the
// command that builds it.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../src/local/controlplane.js';

export function telemetrygenBinary(): string {
  const bin = execFileSync('bash', ['-c', `source "${join(REPO_ROOT, 'test/env/versions.sh')}"; echo "$JSO_CACHE/bin/telemetrygen-$TELEMETRYGEN_VERSION/telemetrygen"`], { encoding: 'utf8' }).trim();
  if (!existsSync(bin)) throw new Error(`telemetrygen is missing (${bin}): build it with: bash test/env/build-telemetrygen.sh`);
  return bin;
}
