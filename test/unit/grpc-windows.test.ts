// The runtime's gRPC servers advertise HTTP/2 receive windows wider than Node's 64 KiB, so a client sending large
// export requests does not stall every 64 KiB waiting for window updates. Checked from a plain HTTP/2 client: the
// stream window in the server's SETTINGS and the connection window after its first WINDOW_UPDATE.
import { connect } from 'node:http2';
import { pino } from 'pino';
import { CONNECTION_WINDOW_BYTES, STREAM_WINDOW_BYTES, startGrpcServer } from '../../src/runtime/grpc-util.js';

const log = pino({ level: 'silent' });

test('a gRPC server advertises the wider stream and connection windows', async () => {
  const { server, port } = await startGrpcServer('127.0.0.1', 0, 1024 * 1024, () => undefined, log, 'test');
  const client = connect(`http://127.0.0.1:${port}`);
  try {
    const settings = await new Promise<{ initialWindowSize?: number }>((resolve, reject) => {
      client.once('remoteSettings', resolve);
      client.once('error', reject);
    });
    expect(settings.initialWindowSize).toBe(STREAM_WINDOW_BYTES);
    // the connection window grows by a WINDOW_UPDATE right after the handshake
    let remote = 0;
    for (let i = 0; i < 100 && remote !== CONNECTION_WINDOW_BYTES; i++) {
      await new Promise((r) => setTimeout(r, 10));
      remote = client.state.remoteWindowSize ?? 0;
    }
    expect(remote).toBe(CONNECTION_WINDOW_BYTES);
  } finally {
    client.close();
    server.forceShutdown();
  }
});
