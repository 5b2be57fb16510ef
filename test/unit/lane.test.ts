// The unit lane runs without the control plane even when jest runs it next to the integration project.
describe('unit lane', () => {
  it('sees no control plane in its environment', () => {
    expect(Object.keys(process.env).filter((k) => k.startsWith('JSO_TEST_'))).toEqual([]);
  });
});
