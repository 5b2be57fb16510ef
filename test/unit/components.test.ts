// The component table: components start in table order, stop by shutdown tier (intake, pipeline, serving, admin,
// storage) each under its deadline, and a component that fails to start stops the ones already started.
import { pino } from 'pino';
import { type Component, type ComponentSpec, type ShutdownTier, startComponents, stopComponents } from '../../src/runtime/component.js';
import { COMPONENTS } from '../../src/runtime/components.js';

const log = pino({ level: 'silent' });

/** A table of recording components; `failing` names one whose start fails, `stuck` one whose stop never ends. */
function table(lines: [string, ShutdownTier][], o: { failing?: string; stuck?: string; absent?: string } = {}) {
  const events: string[] = [];
  const specs: ComponentSpec<{ events: string[] }>[] = lines.map(([name, shutdown]) => ({
    name,
    shutdown,
    stopMs: 50,
    create: (p): Component | undefined =>
      name === o.absent
        ? undefined
        : {
            start: async () => {
              await new Promise((r) => setTimeout(r, 1));
              if (name === o.failing) throw new Error(`${name} cannot bind`);
              p.events.push(`start ${name}`);
            },
            stop: async (deadline) => {
              expect(deadline).toBeGreaterThan(Date.now());
              p.events.push(`stop ${name}`);
              if (name === o.stuck) await new Promise(() => undefined);
            },
            force: () => p.events.push(`force ${name}`),
          },
  }));
  return { events, specs };
}

const LINES: [string, ShutdownTier][] = [
  ['backend', 'storage'],
  ['pipeline', 'pipeline'],
  ['query', 'serving'],
  ['otlp', 'intake'],
  ['admin', 'admin'],
  ['ping', 'intake'],
];

describe('component table', () => {
  test('starts in table order and stops by shutdown tier: intake, pipeline, serving, admin, storage', async () => {
    const { events, specs } = table(LINES);
    const started = await startComponents(specs, { events }, log);
    expect(events).toEqual(['start backend', 'start pipeline', 'start query', 'start otlp', 'start admin', 'start ping']);
    events.length = 0;
    await stopComponents(started, log);
    expect(events.slice(0, 2).sort()).toEqual(['stop otlp', 'stop ping']);
    expect(events.slice(2)).toEqual(['stop pipeline', 'stop query', 'stop admin', 'stop backend']);
  });

  test('a component that fails to start stops the ones already started, in shutdown order, and the error is thrown', async () => {
    const { events, specs } = table(LINES, { failing: 'otlp' });
    await expect(startComponents(specs, { events }, log)).rejects.toThrow('otlp cannot bind');
    expect(events).toEqual(['start backend', 'start pipeline', 'start query', 'stop pipeline', 'stop query', 'stop backend']);
  });

  test('a component the configuration leaves out is skipped; a stop past its deadline is forced and shutdown goes on', async () => {
    const { events, specs } = table(LINES, { absent: 'ping', stuck: 'pipeline' });
    const started = await startComponents(specs, { events }, log);
    expect(started.map((s) => s.name)).toEqual(['backend', 'pipeline', 'query', 'otlp', 'admin']);
    events.length = 0;
    await stopComponents(started, log);
    expect(events).toEqual(['stop otlp', 'stop pipeline', 'force pipeline', 'stop query', 'stop admin', 'stop backend']);
  });

  test("the runtime's table: the receivers stop first, the pipeline drains next, the backend closes last", () => {
    const tier = (name: string) => COMPONENTS.find((c) => c.name.startsWith(name))?.shutdown;
    expect(tier('OTLP/HTTP')).toBe('intake');
    expect(tier('OTLP/gRPC')).toBe('intake');
    expect(tier('remote storage')).toBe('intake');
    expect(tier('ingest pipeline')).toBe('pipeline');
    expect(tier('query (HTTP')).toBe('serving');
    expect(tier('admin')).toBe('admin');
    expect(tier('backend')).toBe('storage');
    // every port of the runtime handle is filled by exactly one listener
    expect(COMPONENTS.flatMap((c) => (c.port ? [c.port] : [])).sort()).toEqual(['admin', 'otlpGrpc', 'otlpHttp', 'queryGrpc', 'queryHttp', 'remoteStorage', 'samplingGrpc', 'samplingHttp']);
  });
});
