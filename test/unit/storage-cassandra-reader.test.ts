// The Cassandra reader's search window without a node.
import { InvalidArgumentError } from '../../src/storage/api/index.js';
import { MAX_SEARCH_BUCKETS, searchWindow } from '../../src/storage/cassandra/reader.js';
import { BUCKET_NS } from '../../src/storage/cassandra/schema.js';

const DAY = 86_400_000_000_000n;
const now = 1_800_000_000_000_000_000n;

describe('cassandra search window', () => {
  it('keeps bounds the caller gave, even older than the retention', () => {
    expect(searchWindow(now, 7n * DAY, now - 30n * DAY, now - 29n * DAY)).toEqual({ lo: now - 30n * DAY, hi: now - 29n * DAY });
    expect(searchWindow(now, 7n * DAY, now + 5n * DAY, now + 6n * DAY)).toEqual({ lo: now + 5n * DAY, hi: now + 6n * DAY });
  });

  it('fills a missing lower bound from the retention, and without retention from the widest window', () => {
    expect(searchWindow(now, 7n * DAY, undefined, undefined)).toEqual({ lo: now - 8n * DAY, hi: now + DAY });
    const w = searchWindow(now, 0n, undefined, now);
    expect(w?.lo).toBe(now - BigInt(MAX_SEARCH_BUCKETS - 1) * BUCKET_NS);
    expect(w!.lo < now - 300n * DAY).toBe(true);
  });

  it('refuses a window wider than the bucket bound, naming startTimeMin', () => {
    let err: unknown;
    try {
      searchWindow(now, 0n, now - 1000n * DAY, now);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as InvalidArgumentError).field).toBe('startTimeMin');
  });

  it('reads nothing for an empty window', () => {
    expect(searchWindow(now, 0n, now, now - 1n)).toBeUndefined();
  });
});
