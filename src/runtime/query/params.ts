// Parsing of query parameters into exact nanosecond values.
import { InvalidArgumentError } from '../../storage/api/index.js';

const RFC3339 = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/i;

/** RFC 3339 with up to nanosecond precision -> ns since the epoch. */
export function parseTime(v: string, field: string): bigint {
  const m = RFC3339.exec(v.trim());
  if (!m) throw new InvalidArgumentError(field, `"${v}" is not an RFC 3339 time such as 2026-11-24T17:00:00.123456789Z`);
  const ms = Date.parse(`${m[1]}${m[3]!.toUpperCase() === 'Z' ? 'Z' : m[3]}`);
  if (Number.isNaN(ms)) throw new InvalidArgumentError(field, `"${v}" is not a valid date`);
  return BigInt(ms) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0') || '0');
}

const UNITS: Record<string, bigint> = { ns: 1n, us: 1_000n, µs: 1_000n, μs: 1_000n, ms: 1_000_000n, s: 1_000_000_000n, m: 60_000_000_000n, h: 3_600_000_000_000n };

/** A Go duration such as 1.5s, 300ms, 2h45m or 10us -> ns. */
export function parseDuration(v: string, field: string): bigint {
  const s = v.trim();
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|μs|ms|s|m|h)/gy;
  let total = 0n;
  let matched = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s))) {
    const [int, frac = ''] = m[1]!.split('.');
    const unit = UNITS[m[2]!]!;
    total += BigInt(int!) * unit + (frac ? (BigInt(frac.slice(0, 9).padEnd(9, '0')) * unit) / 1_000_000_000n : 0n);
    matched = re.lastIndex;
  }
  if (!s || matched !== s.length) throw new InvalidArgumentError(field, `"${v}" is not a duration such as 1.5s, 300ms or 2h45m`);
  return total;
}

export function parseIntParam(v: string, field: string): number {
  if (!/^\d+$/.test(v.trim())) throw new InvalidArgumentError(field, `"${v}" is not a whole number`);
  return Number(v);
}

/** First present value among several spellings of one parameter (snake_case and camelCase are both accepted). */
export function pick(q: URLSearchParams, ...names: string[]): string | undefined {
  for (const n of names) {
    const v = q.get(n);
    if (v !== null && v !== '') return v;
  }
  return undefined;
}
