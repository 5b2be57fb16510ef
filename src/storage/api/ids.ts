import { InvalidArgumentError } from './errors.js';

const HEX = /^[0-9a-fA-F]+$/;

function normalize(id: string, len: number, field: string, what: string): string {
  if (!id || id.length > len || !HEX.test(id)) {
    throw new InvalidArgumentError(field, `${JSON.stringify(id.length > 70 ? `${id.slice(0, 70)}...` : id)} is not a ${what}: expected up to ${len} hex characters`);
  }
  const out = id.toLowerCase().padStart(len, '0');
  if (/^0+$/.test(out)) throw new InvalidArgumentError(field, `the all-zero ${what} is invalid`);
  return out;
}

/** A trace ID as 32 lowercase hex characters; shorter hex is left-padded with zeros. */
export const normalizeTraceId = (id: string, field = 'traceId'): string => normalize(id, 32, field, 'trace ID');

/** A span ID as 16 lowercase hex characters; shorter hex is left-padded with zeros. */
export const normalizeSpanId = (id: string, field = 'spanId'): string => normalize(id, 16, field, 'span ID');
