// Writes crds/*.yaml from the schema declared in src/api and the plug-in table (which backend types are admitted).
// `npm run gen:crds`; a test fails when they differ. A composition root: the API itself imports no storage code.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { backendAvailability } from './api/backend-plugin.js';
import { renderCrdFiles } from './api/render-crds.js';
import { PLUGINS } from './storage/plugins.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = join(root, 'crds');
mkdirSync(dir, { recursive: true });
const files = renderCrdFiles(backendAvailability(PLUGINS));
for (const [file, text] of files) writeFileSync(join(dir, file), text);
process.stdout.write(`wrote ${files.size} CRDs to ${dir}\n`);
