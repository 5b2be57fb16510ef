import type { FieldError } from '../../api/schema.js';
import { TRACESTORE_NAME } from '../../api/tracestore.js';

/** The TS twin of the CRD's metadata.name rule. */
export function validateTraceStoreName(name: string): FieldError[] {
  return TRACESTORE_NAME.check(name) ? [] : [{ field: 'metadata.name', message: TRACESTORE_NAME.message }];
}
