// The Cassandra lease lock's statements and limits, without a node: a connection stand-in records statements.
import cassandra from 'cassandra-driver';
import { InvalidArgumentError } from '../../src/storage/api/index.js';
import { serialLevel } from '../../src/storage/cassandra/connection.js';
import type { CassandraConnection } from '../../src/storage/cassandra/connection.js';
import { CassandraLock, MAX_TTL_SECONDS } from '../../src/storage/cassandra/stores.js';

function fakeConnection(): { conn: CassandraConnection; calls: { cql: string; params: unknown[] }[] } {
  const calls: { cql: string; params: unknown[] }[] = [];
  const exec = (cql: string, params: unknown[]): Promise<unknown> => {
    calls.push({ cql, params });
    return Promise.resolve({ rows: [{ get: (c: string) => (c === '[applied]' ? true : null) }] });
  };
  return { conn: { exec } as unknown as CassandraConnection, calls };
}

describe('cassandra lease lock', () => {
  it('binds the TTL instead of writing it into the statement', async () => {
    const { conn, calls } = fakeConnection();
    expect(await new CassandraLock(conn).acquire('r', 'h', 10_000)).toBe(true);
    expect(calls[0]!.cql).toMatch(/USING TTL \?$/);
    expect(calls[0]!.params).toEqual(['r', 'h', expect.any(BigInt), 11]);
  });

  it('refuses a lease longer than Cassandra keeps a row, or without end, with InvalidArgumentError on ttlMs', async () => {
    const { conn, calls } = fakeConnection();
    const lock = new CassandraLock(conn);
    for (const ttlMs of [Infinity, MAX_TTL_SECONDS * 1000, NaN, 0, -1]) {
      await expect(lock.acquire('r', 'h', ttlMs)).rejects.toBeInstanceOf(InvalidArgumentError);
    }
    expect(calls).toEqual([]);
    await lock.acquire('r', 'h', (MAX_TTL_SECONDS - 1) * 1000);
    expect(calls[0]!.params[3]).toBe(MAX_TTL_SECONDS);
  });

  it('takes an expired lease whose row vanished (its TTL) between the read and the compare-and-set', async () => {
    const answers: Record<string, unknown>[] = [
      // the insert finds the expired lease of another holder
      { '[applied]': false, holder: 'replica-1', expires_ms: 1n },
      // the row expires before the compare-and-set: nothing but [applied]
      { '[applied]': false },
      // the second insert takes it
      { '[applied]': true },
    ];
    const calls: string[] = [];
    const exec = (cql: string): Promise<unknown> => {
      calls.push(cql.split(' ')[0]!);
      const row = answers.shift() ?? { '[applied]': false, holder: 'someone' };
      return Promise.resolve({ rows: [{ get: (c: string) => row[c] }] });
    };
    expect(await new CassandraLock({ exec } as unknown as CassandraConnection).acquire('r', 'replica-2', 1000)).toBe(true);
    expect(calls).toEqual(['INSERT', 'UPDATE', 'INSERT']);
  });

  it('runs compare-and-set at SERIAL unless LOCAL_SERIAL is configured', () => {
    expect(serialLevel(undefined)).toBe(cassandra.types.consistencies.serial);
    expect(serialLevel('LOCAL_SERIAL')).toBe(cassandra.types.consistencies.localSerial);
    expect(() => serialLevel('QUORUM')).toThrow(InvalidArgumentError);
  });
});
