// The Cassandra connection's error translation and configuration checks, without a node.
import cassandra from 'cassandra-driver';
import { StorageError, UnavailableError } from '../../src/storage/api/index.js';
import { CassandraAuthError, retryable, translate } from '../../src/storage/cassandra/connection.js';

describe('cassandra errors', () => {
  it('reports refused credentials as a non-transient error naming the fix, and does not retry them', () => {
    const e = new cassandra.errors.NoHostAvailableError({ '127.0.0.1:9042': new cassandra.errors.AuthenticationError('Provided username cassandra and/or password are incorrect') });
    const t = translate(e);
    expect(t).toBeInstanceOf(CassandraAuthError);
    expect((t as StorageError).code).not.toBe('Unavailable');
    expect(t.message).toMatch(/credentials/);
    expect(retryable(e)).toBe(false);
  });

  it('keeps unreachable hosts transient', () => {
    const e = new cassandra.errors.NoHostAvailableError({ '127.0.0.1:9042': new Error('connect ECONNREFUSED 127.0.0.1:9042') });
    expect(translate(e)).toBeInstanceOf(UnavailableError);
    expect(retryable(e)).toBe(true);
  });
});
