// A backend plug-in: the operator-facing half (api/backend-plugin.ts) plus what the runtime needs to open the
// backend. Each src/storage/<backend>/ folder exports one; src/storage/plugins.ts lists them.
import type { NotInThisVersion, OperatorBackendPlugin } from '../../api/backend-plugin.js';
import type { Node } from '../../api/schema.js';
import type { BackendType } from '../../api/tracestore.js';
import type { BackendFactory } from './index.js';

export interface OpenContext {
  /** directory of on-disk data (embedded backend) */
  dataDir: string;
  retention?: string;
  /** the process environment (credentials arrive as env from secretKeyRef) */
  env: NodeJS.ProcessEnv;
}

export interface RuntimeBackendPlugin<C> {
  /** the runtime config's `backend.<type>` section: validated at start with errors naming the field */
  readonly configSchema: Node<C>;
  /** opens the backend (connections are made lazily or here; provisioning is `provision()`) */
  open(config: C, ctx: OpenContext): BackendFactory | Promise<BackendFactory>;
}

export type BackendPlugin<T extends BackendType = BackendType, C = unknown> = OperatorBackendPlugin<T> & RuntimeBackendPlugin<C>;

/**
 * One entry per backend type of the CRD. A plug-in's config type is its own: the table holds it as `unknown`, and
 * the runtime hands `open` only what the plug-in's configSchema validated (see storage/plugins.ts).
 */
export type PluginTable = { [T in BackendType]: BackendPlugin<T, unknown> | NotInThisVersion<T> };
