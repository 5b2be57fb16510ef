// One Node major for the image, the tests, the benchmarks and CI: test/env/versions.sh pins the version that
// test/env/node.sh installs and .ci/run puts first on PATH, the Dockerfile's image is of the same major, and
// package.json accepts that major alone, with engine-strict so that `npm ci` refuses another.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../root.js';

const read = (f: string): string => readFileSync(join(ROOT, f), 'utf8');
const pinned = /^NODE_VERSION="\$\{NODE_VERSION:-(\d+)\.(\d+)\.(\d+)\}"$/m.exec(read('test/env/versions.sh'));
const major = Number(pinned?.[1]);

describe('Node version', () => {
  it('is pinned in test/env/versions.sh', () => {
    expect(pinned).not.toBeNull();
    expect(major).toBeGreaterThanOrEqual(26);
  });

  it('is the major of the Dockerfile image', () => {
    expect(/^ARG NODE_IMAGE=node:(\d+)[-.\w]*$/m.exec(read('Dockerfile'))?.[1]).toBe(String(major));
  });

  it('is the one major package.json accepts, enforced by engine-strict', () => {
    const pkg = JSON.parse(read('package.json')) as { engines: { node: string } };
    expect(pkg.engines.node).toBe(`>=${major} <${major + 1}`);
    expect(read('.npmrc').split('\n').map((l) => l.trim())).toContain('engine-strict=true');
  });

  it('is the major the tests run on', () => {
    expect(process.versions.node.split('.')[0]).toBe(String(major));
  });

  it('is the Node that .ci/run puts first on PATH before npm ci', () => {
    const ci = read('.ci/run');
    const path = ci.indexOf('bash test/env/node.sh');
    expect(path).toBeGreaterThan(0);
    expect(ci.indexOf('export PATH="$nodebin:$PATH"')).toBeGreaterThan(path);
    expect(ci.indexOf('npm ci')).toBeGreaterThan(ci.indexOf('export PATH="$nodebin:$PATH"'));
  });
});
