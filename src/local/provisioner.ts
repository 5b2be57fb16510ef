// Volumes for local mode: a default StorageClass whose claims this provisioner answers with a PersistentVolume
// that is a directory on this machine (hostPath under the local state directory). The control plane's
// PersistentVolume binder binds claim and volume; the local kubelet runs a pod that mounts the claim with that
// directory, so data outlives the pod (an embedded store keeps its spans across a pod restart). A volume whose claim
// is deleted is Released: its directory and the PersistentVolume go (reclaim policy Delete).
import { lstatSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type KubeClient, isConflict, isNotFound, res, resourcePath } from '../kube/client.js';
import { PERSISTENTVOLUMECLAIMS } from '../kube/resources.js';

export const PERSISTENTVOLUMES = res('', 'v1', 'PersistentVolume', 'persistentvolumes', false);
export const STORAGECLASSES = res('storage.k8s.io', 'v1', 'StorageClass', 'storageclasses', false);

/** The default storage class of local mode and the provisioner name its volumes carry. */
export const LOCAL_STORAGE_CLASS = 'local-directory';
export const LOCAL_PROVISIONER = 'storage.jaegertracing.io/local-directory';
const PROVISIONED_BY = 'pv.kubernetes.io/provisioned-by';

interface Claim {
  metadata: { name: string; namespace: string; uid: string; deletionTimestamp?: string };
  spec: { storageClassName?: string; volumeName?: string; accessModes?: string[]; resources?: { requests?: { storage?: string } } };
  status?: { phase?: string };
}

interface Volume {
  metadata: { name: string; annotations?: Record<string, string>; deletionTimestamp?: string };
  spec: { hostPath?: { path: string }; local?: { path: string }; persistentVolumeReclaimPolicy?: string };
  status?: { phase?: string };
}

export interface ProvisionerOptions {
  client: KubeClient;
  /** volumes are directories below it */
  dir: string;
  log: (line: string) => void;
  /** whether a running pod still uses the directory: a released volume's directory goes only once none does */
  inUse: (path: string) => boolean;
}

/** The directory a PersistentVolume stands for on this machine, if it is one (hostPath or local). */
export function volumeDirectory(pv: Volume): string | undefined {
  return pv.spec.hostPath?.path ?? pv.spec.local?.path;
}

export class LocalVolumeProvisioner {
  private timer?: NodeJS.Timeout;
  private syncing = false;
  private stopped = false;
  /** what was last said about a claim or volume, so a lasting problem is logged once, not every tick */
  private said = new Map<string, string>();

  constructor(private readonly o: ProvisionerOptions) {}

  /** Creates the default storage class, then answers claims every 500 ms. */
  async start(): Promise<void> {
    const sc = {
      apiVersion: 'storage.k8s.io/v1',
      kind: 'StorageClass',
      metadata: { name: LOCAL_STORAGE_CLASS, annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } },
      provisioner: LOCAL_PROVISIONER,
      reclaimPolicy: 'Delete',
      volumeBindingMode: 'Immediate',
    };
    await this.o.client.apply(resourcePath(STORAGECLASSES, undefined, LOCAL_STORAGE_CLASS), sc, 'jso-local');
    mkdirSync(this.o.dir, { recursive: true });
    const tick = (): void => {
      if (this.syncing || this.stopped) return;
      this.syncing = true;
      this.sync()
        .catch((e: unknown) => this.say('sync', `local volumes: ${e instanceof Error ? e.message : String(e)}`))
        .finally(() => (this.syncing = false));
    };
    this.timer = setInterval(tick, 500);
    tick();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  private say(key: string, line: string): void {
    if (this.said.get(key) === line) return;
    this.said.set(key, line);
    this.o.log(line);
  }

  /** One claim or volume at a time: a failure is reported for it and leaves the others to go on. */
  private async each<T>(key: string, item: T, act: (x: T) => Promise<void>): Promise<void> {
    try {
      await act(item);
      this.said.delete(key);
    } catch (e) {
      this.say(key, `local volumes: ${key}: ${e instanceof Error ? e.message : String(e)} (retrying)`);
    }
  }

  private async sync(): Promise<void> {
    const claims = await this.o.client.get<{ items: Claim[] }>(resourcePath(PERSISTENTVOLUMECLAIMS));
    this.said.delete('sync');
    for (const c of claims.items) {
      if (this.stopped) return;
      if (c.metadata.deletionTimestamp || c.spec.volumeName || c.status?.phase !== 'Pending') continue;
      if (c.spec.storageClassName !== LOCAL_STORAGE_CLASS) continue;
      await this.each(`claim ${c.metadata.namespace}/${c.metadata.name}`, c, (x) => this.provision(x));
    }
    const volumes = await this.o.client.get<{ items: Volume[] }>(resourcePath(PERSISTENTVOLUMES));
    for (const v of volumes.items) {
      if (this.stopped) return;
      if (v.metadata.annotations?.[PROVISIONED_BY] !== LOCAL_PROVISIONER || v.metadata.deletionTimestamp) continue;
      if (v.status?.phase === 'Released' && v.spec.persistentVolumeReclaimPolicy === 'Delete') await this.each(`volume ${v.metadata.name}`, v, (x) => this.reclaim(x));
    }
  }

  private async provision(c: Claim): Promise<void> {
    const name = `pvc-${c.metadata.uid}`;
    const path = join(this.o.dir, name);
    const pv = {
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name, annotations: { [PROVISIONED_BY]: LOCAL_PROVISIONER } },
      spec: {
        storageClassName: LOCAL_STORAGE_CLASS,
        capacity: { storage: c.spec.resources?.requests?.storage ?? '1Gi' },
        accessModes: c.spec.accessModes?.length ? c.spec.accessModes : ['ReadWriteOnce'],
        persistentVolumeReclaimPolicy: 'Delete',
        hostPath: { path, type: 'DirectoryOrCreate' },
        claimRef: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace: c.metadata.namespace, name: c.metadata.name, uid: c.metadata.uid },
      },
    };
    try {
      await this.o.client.request('POST', resourcePath(PERSISTENTVOLUMES), { body: pv });
    } catch (e) {
      if (!isConflict(e)) throw e; // made on an earlier tick, not yet bound
      return;
    }
    mkdirSync(path, { recursive: true, mode: 0o700 });
    this.o.log(`volume ${name} for claim ${c.metadata.namespace}/${c.metadata.name}: directory ${path}`);
  }

  private async reclaim(v: Volume): Promise<void> {
    // only the directory this provisioner made for the volume (never a path a hand-edited volume names, never
    // through a symbolic link), and only once no running pod has it open
    const own = join(this.o.dir, v.metadata.name);
    const path = volumeDirectory(v);
    if (path === own) {
      if (this.o.inUse(own)) return; // the next tick, once the pod's process is stopped
      const st = lstatSync(own, { throwIfNoEntry: false });
      if (st?.isDirectory() && !st.isSymbolicLink()) rmSync(own, { recursive: true, force: true });
    }
    try {
      await this.o.client.request('DELETE', resourcePath(PERSISTENTVOLUMES, undefined, v.metadata.name));
      this.o.log(`volume ${v.metadata.name} released by its claim: ${path === own ? 'directory and volume' : 'volume'} deleted`);
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }
}
