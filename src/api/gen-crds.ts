// Writes crds/*.yaml from the schema declared in src/api. `npm run gen:crds`; a test fails when they differ.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderCrdFiles } from './render-crds.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const dir = join(root, 'crds');
mkdirSync(dir, { recursive: true });
for (const [file, text] of renderCrdFiles()) writeFileSync(join(dir, file), text);
process.stdout.write(`wrote ${renderCrdFiles().size} CRDs to ${dir}\n`);
