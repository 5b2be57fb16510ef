// Durations as the CRD writes them ("7d", "1d12h", "30m"), for the backends that enforce retention themselves.
import { StorageError } from './errors.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** "7d", "1d12h", "30m" -> ms */
export function parseDurationMs(d: string): number {
  if (!/^(\d+(ms|s|m|h|d|w))+$/.test(d)) throw new StorageError('InvalidArgument', `${JSON.stringify(d)} is not a duration such as 7d, 12h or 30m`);
  let ms = 0;
  for (const m of d.matchAll(/(\d+)(ms|s|m|h|d|w)/g)) ms += Number(m[1]) * UNIT_MS[m[2]!]!;
  return ms;
}
