// Loading the runtime's configuration: the file named by --config, then JSO_* environment overrides. The schema is
// the operator <-> runtime contract in api/runtime-config.ts.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { ConfigError, DEFAULT_PORTS, type RuntimeConfig, parseRuntimeConfig } from '../api/runtime-config.js';

export function loadRuntimeConfig(file: string): RuntimeConfig {
  let raw: unknown;
  try {
    raw = parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ConfigError(file, [{ field: 'config', message: `cannot read YAML: ${e instanceof Error ? e.message : String(e)}` }]);
  }
  return parseRuntimeConfig(raw, file);
}

/** Applies JSO_* environment overrides, e.g. JSO_LOG_LEVEL=debug, JSO_LISTEN_OTLP_HTTP=127.0.0.1:4318. */
export function withEnvOverrides(cfg: RuntimeConfig, env: NodeJS.ProcessEnv = process.env): RuntimeConfig {
  const out = structuredClone(cfg);
  if (env.JSO_LOG_LEVEL) out.log = { ...out.log, level: env.JSO_LOG_LEVEL as 'info' };
  for (const k of Object.keys(DEFAULT_PORTS) as (keyof typeof DEFAULT_PORTS)[]) {
    const envKey = `JSO_LISTEN_${k.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
    const v = env[envKey];
    if (v) out.listen = { ...out.listen, [k]: v };
  }
  return parseRuntimeConfig(out, 'environment overrides');
}
