// Ports handed to servers the tests start: free when chosen, outside the range the kernel gives outgoing
// connections (which could take a port between the check and the server's bind), and never the same one twice.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { freePort } from '../../src/local/controlplane.js';

const ephemeralLow = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);

describe('freePort', () => {
  it('gives distinct ports below the ephemeral range that a server can bind', async () => {
    const ports: number[] = [];
    for (let i = 0; i < 40; i++) ports.push(await freePort());
    expect(new Set(ports).size).toBe(ports.length);
    for (const p of ports) expect(p).toBeLessThan(ephemeralLow);
    const s = createServer();
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(ports[0], '127.0.0.1', resolve);
    });
    await new Promise((r) => s.close(r));
  });

  it('skips a port something already listens on', async () => {
    const held = createServer();
    const port = await freePort();
    await new Promise<void>((resolve) => held.listen(port, '127.0.0.1', resolve));
    try {
      for (let i = 0; i < 40; i++) expect(await freePort()).not.toBe(port);
    } finally {
      await new Promise((r) => held.close(r));
    }
  });
});
