// A stock Jaeger v2 (grpc storage backend) on our runtime with the memory backend: the cases of
// jaeger-remote-storage-cases.ts.
import { runJaegerRemoteStorageCases } from './jaeger-remote-storage-cases.js';

runJaegerRemoteStorageCases('memory', async () => ({ backend: { memory: { maxTraces: 10_000 } } }));
