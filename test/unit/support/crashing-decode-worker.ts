// A decode thread that dies on the first request it gets, as a thread out of memory would.
import { parentPort } from 'node:worker_threads';

parentPort?.on('message', () => {
  throw new Error('decode thread crashed on purpose');
});
