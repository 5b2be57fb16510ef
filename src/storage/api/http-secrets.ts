// The Secrets of a backend reached over HTTP(S) with a user name and password (Elasticsearch, OpenSearch,
// ClickHouse): how the runtime pods receive them, when they may not be handed out, and their values as the clients
// take them. The spec sections share one shape: endpoints, credentialsSecretRef, allowPlaintextCredentials, tls.
import { BACKEND_CA_DIR, BACKEND_PASSWORD_ENV, BACKEND_USERNAME_ENV, type CheckCondition, type SecretReference } from '../../api/backend-plugin.js';
import { printableEndpoints } from '../../api/redact.js';

export interface HttpBackendSpec {
  endpoints: string[];
  credentialsSecretRef?: { name: string; usernameKey?: string; passwordKey?: string };
  allowPlaintextCredentials?: boolean;
  tls?: { enabled?: boolean; caSecretRef?: { name: string; key?: string }; insecureSkipVerify?: boolean };
}

export interface HttpCredentials {
  username?: string;
  password?: string;
  ca?: string;
}

export const HTTP_SECRET_DEFAULTS = { usernameKey: 'username', passwordKey: 'password', caKey: 'ca.crt' } as const;

const credentialsField = (type: string): string => `spec.backend.${type}.credentialsSecretRef`;
const caField = (type: string): string => `spec.backend.${type}.tls.caSecretRef`;

/** Credentials as env of the runtime container, the CA as a Secret volume at BACKEND_CA_DIR. */
export function httpSecretReferences(type: string, spec: HttpBackendSpec): SecretReference[] {
  const refs: SecretReference[] = [];
  const cred = spec.credentialsSecretRef;
  if (cred) {
    const usernameKey = cred.usernameKey ?? HTTP_SECRET_DEFAULTS.usernameKey;
    const passwordKey = cred.passwordKey ?? HTTP_SECRET_DEFAULTS.passwordKey;
    refs.push({
      field: credentialsField(type),
      name: cred.name,
      keys: [usernameKey, passwordKey],
      env: [
        { name: BACKEND_USERNAME_ENV, key: usernameKey },
        { name: BACKEND_PASSWORD_ENV, key: passwordKey },
      ],
    });
  }
  const ca = spec.tls?.caSecretRef;
  if (ca) refs.push({ field: caField(type), name: ca.name, keys: [ca.key ?? HTTP_SECRET_DEFAULTS.caKey], mountPath: BACKEND_CA_DIR });
  return refs;
}

/** Credentials go over http:// only when the spec says so. */
export function httpPlaintextCredentialsProblem(type: string, spec: HttpBackendSpec): CheckCondition | undefined {
  if (!spec.credentialsSecretRef || spec.allowPlaintextCredentials) return undefined;
  const plain = spec.endpoints.filter((e) => !e.toLowerCase().startsWith('https://'));
  if (!plain.length) return undefined;
  const field = `spec.backend.${type}`;
  return {
    status: 'False',
    reason: 'InsecureCredentials',
    message: `${field}.endpoints: ${printableEndpoints(plain)} ${plain.length === 1 ? 'is' : 'are'} plain http://, so the credentials of ${field}.credentialsSecretRef would travel unencrypted: use https:// endpoints, or set ${field}.allowPlaintextCredentials: true to accept that`,
  };
}

/** The Secret values the operator read for this spec, as the clients take them. */
export function httpCredentialsOf(type: string, spec: HttpBackendSpec, secrets: Record<string, Record<string, string>>): HttpCredentials {
  const out: HttpCredentials = {};
  const cred = spec.credentialsSecretRef;
  if (cred) {
    const values = secrets[credentialsField(type)] ?? {};
    const username = values[cred.usernameKey ?? HTTP_SECRET_DEFAULTS.usernameKey];
    if (username !== undefined) {
      out.username = username;
      out.password = values[cred.passwordKey ?? HTTP_SECRET_DEFAULTS.passwordKey] ?? '';
    }
  }
  const ca = spec.tls?.caSecretRef;
  if (ca) {
    const pem = secrets[caField(type)]?.[ca.key ?? HTTP_SECRET_DEFAULTS.caKey];
    if (pem) out.ca = pem;
  }
  return out;
}
