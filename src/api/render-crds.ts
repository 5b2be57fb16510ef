import { stringify } from 'yaml';
import { KINDS, crdFor } from './crds.js';

const HEADER = '# Generated from src/api by `npm run gen:crds`. Do not edit: change the schema in src/api instead.\n';

/** file name → YAML text for every CRD. */
export function renderCrdFiles(): Map<string, string> {
  const out = new Map<string, string>();
  for (const def of Object.values(KINDS)) {
    out.set(`${def.plural}.yaml`, HEADER + stringify(crdFor(def), { lineWidth: 0, aliasDuplicateObjects: false }));
  }
  return out;
}
