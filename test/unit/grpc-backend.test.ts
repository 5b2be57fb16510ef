// The grpc backend's pure parts: the runtime section and Secret references the operator renders, the plaintext-token
// policy, the runtime's settings from env and the mounted CA, gRPC status -> storage error codes (what the ingest
// pipeline retries), and the OTLP export reply. No server.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { BACKEND_CA_DIR, BACKEND_TOKEN_ENV, type BackendSpec } from '../../src/api/backend-plugin.js';
import { InvalidArgumentError, StorageError, UnavailableError } from '../../src/storage/api/index.js';
import { decodeExportResponse } from '../../src/storage/grpc/codec.js';
import { grpcBackendConfig } from '../../src/storage/grpc/config.js';
import { grpcPlaintextTokenProblem, grpcRuntimeSection, grpcSecretReferences } from '../../src/storage/grpc/plugin.js';
import { storageError } from '../../src/storage/grpc/store.js';
import { encodeExportResponse } from '../../src/otlp/otlp-proto.js';

const spec: BackendSpec<'grpc'> = { endpoint: 'remote:17271', tls: { enabled: true, caSecretRef: { name: 'ca', key: 'ca.pem' }, serverName: 'remote.example' }, tokenSecretRef: { name: 'tok', key: 'token' } };

describe('grpc plug-in (operator side)', () => {
  test('renders the Secrets by reference only', () => {
    expect(grpcRuntimeSection(spec)).toEqual({ endpoint: 'remote:17271', tls: { enabled: true, caSecretRef: { name: 'ca', key: 'ca.pem' }, serverName: 'remote.example' }, tokenSecretRef: { name: 'tok', key: 'token' } });
  });
  test('hands the token as env and the CA as a volume', () => {
    expect(grpcSecretReferences(spec)).toEqual([
      { field: 'spec.backend.grpc.tokenSecretRef', name: 'tok', keys: ['token'], env: [{ name: BACKEND_TOKEN_ENV, key: 'token' }] },
      { field: 'spec.backend.grpc.tls.caSecretRef', name: 'ca', keys: ['ca.pem'], mountPath: BACKEND_CA_DIR },
    ]);
    expect(grpcSecretReferences({ endpoint: 'a:1' })).toEqual([]);
  });
  test('refuses a token without TLS unless allowed', () => {
    expect(grpcPlaintextTokenProblem(spec)).toBeUndefined();
    expect(grpcPlaintextTokenProblem({ endpoint: 'a:1', tokenSecretRef: { name: 't' } })).toMatchObject({ status: 'False', reason: 'InsecureCredentials' });
    expect(grpcPlaintextTokenProblem({ endpoint: 'a:1', tokenSecretRef: { name: 't' }, allowPlaintextCredentials: true })).toBeUndefined();
    expect(grpcPlaintextTokenProblem({ endpoint: 'a:1' })).toBeUndefined();
  });
});

describe('grpc backend settings (runtime side)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'jso-grpc-'));
    writeFileSync(join(dir, 'ca.pem'), 'PEM');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('takes the token from env and the CA from the mounted Secret', () => {
    expect(grpcBackendConfig(grpcRuntimeSection(spec), { [BACKEND_TOKEN_ENV]: 's3cret' }, dir)).toEqual({ endpoint: 'remote:17271', tls: { ca: 'PEM', serverName: 'remote.example' }, token: 's3cret', timeoutMs: 5000 });
    expect(grpcBackendConfig({ endpoint: 'a:1', writerEndpoint: 'b:2', timeout: '250ms' }, {})).toEqual({ endpoint: 'a:1', writerEndpoint: 'b:2', timeoutMs: 250 });
  });
  test('names the field when the token or the CA is missing', () => {
    expect(() => grpcBackendConfig(grpcRuntimeSection(spec), {}, dir)).toThrow(/backend\.grpc\.tokenSecretRef/);
    expect(() => grpcBackendConfig(grpcRuntimeSection(spec), { [BACKEND_TOKEN_ENV]: 'x' }, join(dir, 'none'))).toThrow(/backend\.grpc\.tls\.caSecretRef/);
  });
});

describe('grpc backend errors', () => {
  const err = (code: number) => Object.assign(new Error('x'), { code, details: 'detail' });
  test('what the remote cannot take now is Unavailable (retried by the pipeline)', () => {
    for (const c of [status.UNAVAILABLE, status.DEADLINE_EXCEEDED, status.RESOURCE_EXHAUSTED, status.ABORTED]) expect(storageError(err(c), 'Export')).toBeInstanceOf(UnavailableError);
  });
  test('a refused request is InvalidArgument, a missing method Unimplemented, the rest Internal', () => {
    expect(storageError(err(status.INVALID_ARGUMENT), 'Export')).toBeInstanceOf(InvalidArgumentError);
    expect(storageError(err(status.UNIMPLEMENTED), 'Export')).toMatchObject({ code: 'Unimplemented' });
    expect(storageError(err(status.UNAUTHENTICATED), 'Export')).toMatchObject({ code: 'Internal', message: expect.stringContaining('UNAUTHENTICATED') });
    const own = new StorageError('Internal', 'ours');
    expect(storageError(own, 'Export')).toBe(own);
  });
  test('reads partial success from the export reply', () => {
    expect(decodeExportResponse(encodeExportResponse(0, ''))).toEqual({ rejected: 0n, message: '' });
    expect(decodeExportResponse(encodeExportResponse(3, 'bad spans'))).toEqual({ rejected: 3n, message: 'bad spans' });
  });
});
