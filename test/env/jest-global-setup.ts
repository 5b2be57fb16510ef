// One real control plane per test run, shared by every test file: etcd, kube-apiserver, controller-manager,
// scheduler and kwok on loopback. Binaries are built from Go modules on first use and cached under ~/.cache.
import { ControlPlane, buildBinaries, missingBinaries } from '../../src/local/controlplane.js';
import { KubeClient } from '../../src/kube/client.js';
import { installCrds } from '../../src/local/install.js';

declare global {
  var __JSO_CONTROL_PLANE__: ControlPlane | undefined;
}

export default async function setup(): Promise<void> {
  if (missingBinaries().length) {
    try {
      buildBinaries();
    } catch (e) {
      throw new Error(`could not build the test control plane (${e instanceof Error ? e.message : String(e)}).\nRun: bash test/env/build-binaries.sh`);
    }
  }
  const cp = new ControlPlane({
    nodes: 3,
    log: (l) => process.stderr.write(`${l}\n`),
    beforeControllers: async (kubeconfig) => {
      const client = KubeClient.load(kubeconfig);
      await installCrds(client);
      client.close();
    },
  });
  globalThis.__JSO_CONTROL_PLANE__ = cp;
  const info = await cp.start();
  process.env.JSO_TEST_KUBECONFIG = info.kubeconfig;
  process.env.JSO_TEST_APISERVER = info.server;
  process.env.JSO_TEST_TOKEN = info.token;
  process.env.JSO_TEST_CP_DIR = info.dir;
  process.env.JSO_TEST_ETCD = info.etcdUrl;
}
