import { watchedNamespaces } from '../../src/controllers/manager.js';

describe('--namespace', () => {
  it('takes a comma-separated list of namespaces; empty means all', () => {
    expect(watchedNamespaces('a, b,a')).toEqual(['a', 'b']);
    expect(watchedNamespaces('obs')).toEqual(['obs']);
    expect(watchedNamespaces('')).toBeUndefined();
    expect(watchedNamespaces(undefined)).toBeUndefined();
    expect(() => watchedNamespaces('ok,Not_OK')).toThrow('"Not_OK" is not a namespace name');
  });
});
