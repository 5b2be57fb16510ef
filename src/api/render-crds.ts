import { stringify } from 'yaml';
import type { BackendAvailability } from './backend-plugin.js';
import { KINDS, crdFor } from './crds.js';

const HEADER = '# Generated from src/api by `npm run gen:crds`. Do not edit: change the schema in src/api instead.\n';

/** file name → YAML text for every CRD, admitting the backend types of `backends` (from the plug-in table). */
export function renderCrdFiles(backends: BackendAvailability): Map<string, string> {
  const out = new Map<string, string>();
  for (const def of Object.values(KINDS)) {
    out.set(`${def.plural}.yaml`, HEADER + stringify(crdFor(def, backends), { lineWidth: 0, aliasDuplicateObjects: false }));
  }
  return out;
}
