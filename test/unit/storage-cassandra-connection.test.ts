// The Cassandra connection's error translation and configuration checks, without a node.
import cassandra from 'cassandra-driver';
import { InvalidArgumentError, StorageError, UnavailableError } from '../../src/storage/api/index.js';
import { CassandraAuthError, CassandraConnection, type CassandraBackendConfig, retryable, translate } from '../../src/storage/cassandra/connection.js';
import { Slots } from '../../src/storage/api/slots.js';

describe('cassandra errors', () => {
  it('reports refused credentials as an error naming the fix, not retried by the connection, Unavailable for the pipeline (spans kept)', () => {
    const e = new cassandra.errors.NoHostAvailableError({ '127.0.0.1:9042': new cassandra.errors.AuthenticationError('Provided username cassandra and/or password are incorrect') });
    const t = translate(e);
    expect(t).toBeInstanceOf(CassandraAuthError);
    expect((t as StorageError).code).toBe('Unavailable');
    expect(t.message).toMatch(/credentials/);
    expect(retryable(e)).toBe(false);
  });

  it('keeps unreachable hosts transient', () => {
    const e = new cassandra.errors.NoHostAvailableError({ '127.0.0.1:9042': new Error('connect ECONNREFUSED 127.0.0.1:9042') });
    expect(translate(e)).toBeInstanceOf(UnavailableError);
    expect(retryable(e)).toBe(true);
  });
});

describe('cassandra consistency levels', () => {
  const base: CassandraBackendConfig = { contactPoints: ['127.0.0.1:9042'], localDataCenter: 'dc1', keyspace: 'jaeger' };
  const refusal = (extra: Record<string, string>): InvalidArgumentError | undefined => {
    try {
      void new CassandraConnection({ ...base, ...extra } as CassandraBackendConfig);
    } catch (e) {
      if (e instanceof InvalidArgumentError) return e;
      throw e;
    }
    return undefined;
  };

  it('refuses ANY and unknown levels, naming the field', () => {
    expect(refusal({ writeConsistency: 'ANY' })?.field).toBe('writeConsistency');
    expect(refusal({ readConsistency: 'QUROUM' })?.field).toBe('readConsistency');
    expect(refusal({ readConsistency: 'EACH_QUORUM' })?.field).toBe('readConsistency');
    expect(refusal({ writeConsistency: 'local_quorum' })?.field).toBe('writeConsistency');
  });

  it('accepts the levels that store on replicas', () => {
    for (const l of ['ONE', 'TWO', 'THREE', 'QUORUM', 'ALL', 'LOCAL_QUORUM', 'LOCAL_ONE']) {
      expect(refusal({ readConsistency: l, writeConsistency: l })).toBeUndefined();
    }
    expect(refusal({ writeConsistency: 'EACH_QUORUM' })).toBeUndefined();
  });
});

describe('cassandra in-flight bound', () => {
  it('admits at most n holders and serves many waiters first come, first served', async () => {
    const slots = new Slots(2);
    const order: number[] = [];
    let holders = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 5000 }, async (_, i) => {
        await slots.take();
        order.push(i);
        most = Math.max(most, ++holders);
        await Promise.resolve();
        holders--;
        slots.give();
      }),
    );
    expect(most).toBe(2);
    expect(order).toEqual(Array.from({ length: 5000 }, (_, i) => i));
    // all given back: n takes succeed at once again
    let taken = 0;
    void slots.take().then(() => taken++);
    void slots.take().then(() => taken++);
    await Promise.resolve();
    expect(taken).toBe(2);
  });
});
