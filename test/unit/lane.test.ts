// The unit lane runs without the control plane even when jest runs it next to the integration project, and the
// jest configuration keeps what the integration tests need.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from '../root.js';

describe('unit lane', () => {
  it('sees no control plane in its environment', () => {
    expect(Object.keys(process.env).filter((k) => k.startsWith('JSO_TEST_'))).toEqual([]);
  });

  it('gives tests a timeout at the top level of the jest config (jest ignores it inside a project)', async () => {
    const config = ((await import(pathToFileURL(join(ROOT, 'jest.config.js')).href)) as { default: { testTimeout?: number; projects: Record<string, unknown>[] } }).default;
    expect(config.testTimeout).toBeGreaterThanOrEqual(120_000);
    for (const p of config.projects) expect(p).not.toHaveProperty('testTimeout');
  });
});
