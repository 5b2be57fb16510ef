// A small typed schema builder. Each CRD is declared once with it; from that one declaration we get
//   - the OpenAPI v3 schema written into crds/*.yaml (see crds.ts and src/gen-crds.ts),
//   - the TypeScript type of the resource (Infer<typeof node>),
//   - a validator the reconcilers run again on every object (schema checks plus the CEL rules' twins).
// So the CRD and the types cannot drift: they are the same value.

export interface OpenAPISchema {
  type?: string;
  description?: string;
  properties?: Record<string, OpenAPISchema>;
  required?: string[];
  items?: OpenAPISchema;
  additionalProperties?: OpenAPISchema;
  enum?: (string | number)[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  format?: string;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-list-type'?: string;
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-validations'?: CelRuleSpec[];
  'x-kubernetes-preserve-unknown-fields'?: boolean;
}

export interface CelRuleSpec {
  rule: string;
  message: string;
  fieldPath?: string;
  reason?: string;
}

/** One error about one field: `field` is the full path (e.g. spec.runtime.replicas), `message` says what to fix. */
export interface FieldError {
  field: string;
  message: string;
}

/**
 * A CEL rule together with its TypeScript twin. The API server runs `rule`; the reconciler runs `check`
 * (returns true when valid) so that objects admitted before a rule existed are still caught.
 */
export interface CelRule<T> extends CelRuleSpec {
  /** Transition rules (using oldSelf) get the old value; they are skipped when there is none. */
  check: (self: T, oldSelf?: T) => boolean;
  transition?: boolean;
}

export interface Node<T> {
  /** phantom field carrying the TypeScript type */
  readonly __type?: T;
  toOpenAPI(): OpenAPISchema;
  validate(value: unknown, path: string, errors: FieldError[], old?: unknown): void;
}

export type Infer<N> = N extends Node<infer T> ? T : never;

interface Common<T> {
  description?: string;
  default?: T;
  rules?: CelRule<T>[];
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  const s = JSON.stringify(value);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function base<T>(schema: OpenAPISchema, c: Common<T>): OpenAPISchema {
  const out: OpenAPISchema = { ...schema };
  if (c.description) out.description = c.description;
  if (c.default !== undefined) out.default = c.default;
  if (c.rules?.length) {
    out['x-kubernetes-validations'] = c.rules.map(({ rule, message, fieldPath, reason }) => {
      const r: CelRuleSpec = { rule, message };
      if (fieldPath) r.fieldPath = fieldPath;
      if (reason) r.reason = reason;
      return r;
    });
  }
  return out;
}

function runRules<T>(rules: CelRule<T>[] | undefined, value: T, path: string, errors: FieldError[], old?: unknown): void {
  for (const r of rules ?? []) {
    if (r.transition && old === undefined) continue;
    if (!r.check(value, old as T | undefined)) {
      errors.push({ field: r.fieldPath ? `${path}${r.fieldPath}` : path, message: r.message });
    }
  }
}

export interface StringOpts<T extends string = string> extends Common<T> {
  pattern?: string;
  /** human explanation of the pattern, used in error messages */
  patternHint?: string;
  minLength?: number;
  maxLength?: number;
  format?: string;
}

export function str(o: StringOpts = {}): Node<string> {
  const re = o.pattern ? new RegExp(o.pattern) : undefined;
  return {
    toOpenAPI: () =>
      base(
        {
          type: 'string',
          ...(o.pattern ? { pattern: o.pattern } : {}),
          ...(o.minLength !== undefined ? { minLength: o.minLength } : {}),
          ...(o.maxLength !== undefined ? { maxLength: o.maxLength } : {}),
          ...(o.format ? { format: o.format } : {}),
        },
        o,
      ),
    validate(v, path, errors, old) {
      if (typeof v !== 'string') return void errors.push({ field: path, message: `must be a string (got ${describe(v)})` });
      if (o.minLength !== undefined && v.length < o.minLength)
        return void errors.push({ field: path, message: o.minLength === 1 ? 'must not be empty' : `must be at least ${o.minLength} characters` });
      if (o.maxLength !== undefined && v.length > o.maxLength)
        return void errors.push({ field: path, message: `must be at most ${o.maxLength} characters (got ${v.length})` });
      if (re && !re.test(v))
        return void errors.push({ field: path, message: `${describe(v)} is not valid: ${o.patternHint ?? `must match ${o.pattern}`}` });
      runRules(o.rules, v, path, errors, old);
    },
  };
}

export function enumOf<const T extends string>(values: readonly T[], o: Common<T> = {}): Node<T> {
  return {
    toOpenAPI: () => base({ type: 'string', enum: [...values] }, o),
    validate(v, path, errors, old) {
      if (typeof v !== 'string' || !(values as readonly string[]).includes(v))
        return void errors.push({ field: path, message: `must be one of ${values.join(', ')} (got ${describe(v)})` });
      runRules(o.rules, v as T, path, errors, old);
    },
  };
}

export interface NumberOpts extends Common<number> {
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
}

function numeric(kind: 'integer' | 'number', o: NumberOpts): Node<number> {
  return {
    toOpenAPI: () =>
      base(
        {
          type: kind,
          ...(kind === 'integer' ? { format: 'int64' } : { format: 'double' }),
          ...(o.minimum !== undefined ? { minimum: o.minimum } : {}),
          ...(o.exclusiveMinimum ? { exclusiveMinimum: true } : {}),
          ...(o.maximum !== undefined ? { maximum: o.maximum } : {}),
        },
        o,
      ),
    validate(v, path, errors, old) {
      if (typeof v !== 'number' || !Number.isFinite(v) || (kind === 'integer' && !Number.isInteger(v)))
        return void errors.push({ field: path, message: `must be ${kind === 'integer' ? 'an integer' : 'a number'} (got ${describe(v)})` });
      if (o.minimum !== undefined && (o.exclusiveMinimum ? v <= o.minimum : v < o.minimum))
        return void errors.push({ field: path, message: `must be ${o.exclusiveMinimum ? '>' : '>='} ${o.minimum} (got ${v})` });
      if (o.maximum !== undefined && v > o.maximum)
        return void errors.push({ field: path, message: `must be <= ${o.maximum} (got ${v})` });
      runRules(o.rules, v, path, errors, old);
    },
  };
}

export const int = (o: NumberOpts = {}): Node<number> => numeric('integer', o);
export const num = (o: NumberOpts = {}): Node<number> => numeric('number', o);

export function bool(o: Common<boolean> = {}): Node<boolean> {
  return {
    toOpenAPI: () => base({ type: 'boolean' }, o),
    validate(v, path, errors) {
      if (typeof v !== 'boolean') errors.push({ field: path, message: `must be true or false (got ${describe(v)})` });
    },
  };
}

const QUANTITY = '^([+]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$';

/** A Kubernetes resource quantity such as 500m, 1Gi or 2. */
export function quantity(o: Common<string> = {}): Node<string> {
  const re = new RegExp(QUANTITY);
  return {
    toOpenAPI: () => base({ type: 'string', pattern: QUANTITY }, o),
    validate(v, path, errors) {
      if (typeof v !== 'string' || !re.test(v))
        errors.push({ field: path, message: `${describe(v)} is not a Kubernetes quantity (examples: 500m, 256Mi, 2Gi, 1)` });
    },
  };
}

export interface ArrayOpts<T> extends Common<T[]> {
  minItems?: number;
  maxItems?: number;
  listType?: 'atomic' | 'set' | 'map';
  listMapKeys?: string[];
}

export function arr<T>(item: Node<T>, o: ArrayOpts<T> = {}): Node<T[]> {
  return {
    toOpenAPI: () =>
      base(
        {
          type: 'array',
          items: item.toOpenAPI(),
          ...(o.minItems !== undefined ? { minItems: o.minItems } : {}),
          ...(o.maxItems !== undefined ? { maxItems: o.maxItems } : {}),
          ...(o.listType ? { 'x-kubernetes-list-type': o.listType } : {}),
          ...(o.listMapKeys ? { 'x-kubernetes-list-map-keys': o.listMapKeys } : {}),
        },
        o,
      ),
    validate(v, path, errors, old) {
      if (!Array.isArray(v)) return void errors.push({ field: path, message: `must be a list (got ${describe(v)})` });
      if (o.minItems !== undefined && v.length < o.minItems)
        return void errors.push({ field: path, message: `must have at least ${o.minItems} item(s)` });
      if (o.maxItems !== undefined && v.length > o.maxItems)
        return void errors.push({ field: path, message: `must have at most ${o.maxItems} items (got ${v.length})` });
      v.forEach((x, i) => item.validate(x, `${path}[${i}]`, errors));
      if (o.listType === 'set' || o.listType === 'map') {
        const keyOf = (x: unknown): string =>
          o.listType === 'set' ? JSON.stringify(x) : JSON.stringify((o.listMapKeys ?? []).map((k) => (x as Record<string, unknown>)?.[k]));
        const seen = new Set<string>();
        v.forEach((x, i) => {
          const k = keyOf(x);
          if (seen.has(k)) errors.push({ field: `${path}[${i}]`, message: `duplicate entry ${k}: each entry must be unique` });
          seen.add(k);
        });
      }
      runRules(o.rules, v as T[], path, errors, old);
    },
  };
}

/** A string-to-string map (labels, annotations, node selectors). Values are typed; nothing free-form. */
export function stringMap(o: Common<Record<string, string>> & { maxProperties?: number } = {}): Node<Record<string, string>> {
  return {
    toOpenAPI: () => base({ type: 'object', additionalProperties: { type: 'string' } }, o),
    validate(v, path, errors) {
      if (typeof v !== 'object' || v === null || Array.isArray(v))
        return void errors.push({ field: path, message: `must be a map of strings (got ${describe(v)})` });
      for (const [k, x] of Object.entries(v)) if (typeof x !== 'string') errors.push({ field: `${path}.${k}`, message: 'must be a string' });
    },
  };
}

type Simplify<T> = { [K in keyof T]: T[K] } & {};
type Props = Record<string, Node<unknown>>;
export type ObjectOf<P extends Props, R extends keyof P> = Simplify<
  { [K in R]: Infer<P[K]> } & { [K in Exclude<keyof P, R>]?: Infer<P[K]> }
>;

export interface ObjectOpts<T> extends Common<T> {
  /** Keep fields the schema does not list (only for embedded Kubernetes types we pass through). */
  preserveUnknownFields?: boolean;
}

export function obj<P extends Props, R extends keyof P & string = never>(
  props: P,
  required: readonly R[] = [],
  o: ObjectOpts<ObjectOf<P, R>> = {},
): Node<ObjectOf<P, R>> {
  return {
    toOpenAPI: () => {
      const properties: Record<string, OpenAPISchema> = {};
      for (const [k, n] of Object.entries(props)) properties[k] = n.toOpenAPI();
      return base(
        {
          type: 'object',
          properties,
          ...(required.length ? { required: [...required] } : {}),
          ...(o.preserveUnknownFields ? { 'x-kubernetes-preserve-unknown-fields': true } : {}),
        },
        o,
      );
    },
    validate(v, path, errors, old) {
      if (typeof v !== 'object' || v === null || Array.isArray(v))
        return void errors.push({ field: path, message: `must be an object (got ${describe(v)})` });
      const rec = v as Record<string, unknown>;
      const oldRec = typeof old === 'object' && old !== null ? (old as Record<string, unknown>) : undefined;
      for (const r of required) if (rec[r] === undefined) errors.push({ field: `${path}.${r}`, message: 'is required' });
      for (const [k, x] of Object.entries(rec)) {
        const n = props[k];
        if (!n) {
          if (!o.preserveUnknownFields)
            errors.push({ field: `${path}.${k}`, message: `is not a known field (known: ${Object.keys(props).join(', ')})` });
          continue;
        }
        if (x === undefined || x === null) continue;
        n.validate(x, `${path}.${k}`, errors, oldRec?.[k]);
      }
      runRules(o.rules, rec as ObjectOf<P, R>, path, errors, oldRec);
    },
  };
}

/** Applies the schema's defaults to a copy of `value` (what the API server does on admission). */
export function applyDefaults<T>(schema: OpenAPISchema, value: T): T {
  if (value === undefined || value === null) {
    if (schema.default === undefined) return value;
    value = structuredClone(schema.default) as T; // then default inside it, as the API server does
  }
  if (schema.type === 'object' && schema.properties && typeof value === 'object' && !Array.isArray(value)) {
    const out: Record<string, unknown> = { ...(value as Record<string, unknown>) };
    for (const [k, s] of Object.entries(schema.properties)) {
      const d = applyDefaults(s, out[k]);
      if (d !== undefined) out[k] = d;
    }
    return out as T;
  }
  if (schema.type === 'array' && schema.items && Array.isArray(value)) {
    return value.map((x) => applyDefaults(schema.items as OpenAPISchema, x)) as T;
  }
  return value;
}

/** `n` with its own description: one node reused for several fields, each documented for `kubectl explain`. */
export function doc<T>(n: Node<T>, description: string): Node<T> {
  return { toOpenAPI: () => ({ ...n.toOpenAPI(), description }), validate: (v, path, errors, old) => n.validate(v, path, errors, old) };
}
