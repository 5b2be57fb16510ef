import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError } from '../../src/storage/api/errors.js';
import { decodeTracesJson, encodeTracesJson } from '../../src/otlp/otlp-json.js';
import { attrToString } from '../../src/storage/api/model.js';
import { ROOT } from '../root.js';

const fixture = (f: string) => JSON.parse(readFileSync(join(ROOT, 'src/storage/testing/fixtures', f), 'utf8')) as unknown;
const span = (over: Record<string, unknown>) => ({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: '5b8efff798038103d269b633813fc60c', spanId: 'eee19b7ec3c1b174', ...over }] }] }] });
const failure = (v: unknown): InvalidArgumentError => {
  try {
    decodeTracesJson(v);
  } catch (e) {
    if (e instanceof InvalidArgumentError) return e;
    throw e;
  }
  throw new Error('decoded without error');
};

describe('OTLP/JSON', () => {
  it('round-trips a fixture through decode and encode without loss', () => {
    const once = decodeTracesJson(fixture('shop.json'));
    const twice = decodeTracesJson(encodeTracesJson(once));
    expect(twice).toEqual(once);
  });
  it('accepts snake_case field names and enum names', () => {
    const t = decodeTracesJson({ resource_spans: [{ scope_spans: [{ spans: [{ trace_id: 'AB', span_id: 'cd', kind: 'SPAN_KIND_CLIENT', start_time_unix_nano: 5, status: { code: 'STATUS_CODE_ERROR' } }] }] }] });
    const s = t[0]!.scopeSpans[0]!.spans[0]!;
    expect(s).toMatchObject({ traceId: '000000000000000000000000000000ab', spanId: '00000000000000cd', kind: 3, startTimeUnixNano: 5n, status: { code: 2 } });
  });
  it.each([
    [{ traceId: 'zz' }, 'resourceSpans[0].scopeSpans[0].spans[0].traceId'],
    [{ spanId: '' }, 'resourceSpans[0].scopeSpans[0].spans[0].spanId'],
    [{ kind: 9 }, 'resourceSpans[0].scopeSpans[0].spans[0].kind'],
    [{ startTimeUnixNano: 'yesterday' }, 'resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano'],
    [{ attributes: [{ key: 'n', value: { intValue: '1.5' } }] }, 'resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.intValue'],
    [{ attributes: [{ key: 'b', value: { bytesValue: '***' } }] }, 'resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.bytesValue'],
    [{ links: [{ traceId: '5b8efff798038103d269b633813fc60c', spanId: 'x' }] }, 'resourceSpans[0].scopeSpans[0].spans[0].links[0].spanId'],
    [{ events: 'none' }, 'resourceSpans[0].scopeSpans[0].spans[0].events'],
  ])('names the field of a bad value (%j)', (over, field) => {
    expect(failure(span(over)).field).toBe(field);
  });
  // found by test/integration/ingest-fuzz: both were accepted and stored, and the embedded store's strict read
  // of the span then failed, making the whole trace unreadable
  it.each([
    [{ startTimeUnixNano: 1e20 }, 'resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano'],
    [{ attributes: [{ key: 'n', value: { intValue: -1e20 } }] }, 'resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.intValue'],
    [{ events: [{ timeUnixNano: 2 ** 64 }] }, 'resourceSpans[0].scopeSpans[0].spans[0].events[0].timeUnixNano'],
    [{ kind: '__proto__' }, 'resourceSpans[0].scopeSpans[0].spans[0].kind'],
    [{ kind: 'toString' }, 'resourceSpans[0].scopeSpans[0].spans[0].kind'],
    [{ status: { code: 'constructor' } }, 'resourceSpans[0].scopeSpans[0].spans[0].status.code'],
  ])('rejects a 64-bit number out of range and an inherited property name as an enum (%j)', (over, field) => {
    expect(failure(span(over)).field).toBe(field);
  });
  it('rejects a non-object body', () => {
    expect(failure([1, 2]).field).toBe('request');
    expect(failure({ resourceSpans: 'x' }).field).toBe('resourceSpans');
  });
  it('formats values as strings the way search compares them', () => {
    expect([attrToString(7n), attrToString(2.5), attrToString(3), attrToString(true), attrToString(null)]).toEqual(['7', '2.5', '3', 'true', '']);
    expect(attrToString({ array: ['a', 1n] })).toBe('["a",1]');
  });
});
