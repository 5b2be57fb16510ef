// The operator's checks of the backends outside the runtime pods, one entry per backend type. Composition roots
// (the operator command, local mode, tests) hand this table to the operator.
import type { BackendProbes } from '../api/backend-probe.js';
import { searchProbe } from './elasticsearch/probe.js';

export const BACKEND_PROBES: BackendProbes = { opensearch: searchProbe, elasticsearch: searchProbe };
