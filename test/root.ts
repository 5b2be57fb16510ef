// The repository root, from the compiled test's place in dist/test/. Its own module so that tests which only read
// files of the repository do not load the Kubernetes client and the operator with test/helpers.ts.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
