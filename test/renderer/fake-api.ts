import { ApiError, type ChannelName, type EventMap, type EventName, type RequestOf, type ResponseOf, type ShearApi } from '../../shared/contract';
import type { Host, RunSnapshot, StorageInfo, BackupPlanPreview } from '../../shared/contract';
import type { Leftover, VmDetails } from '../../shared/model';

type Handler<C extends ChannelName> = (request: RequestOf<C>) => ResponseOf<C> | Promise<ResponseOf<C>>;
export type Handlers = { [C in ChannelName]?: Handler<C> };

export interface FakeApi {
  api: ShearApi;
  calls: Array<{ channel: ChannelName; request: unknown }>;
  requestsTo<C extends ChannelName>(channel: C): Array<RequestOf<C>>;
  emit<E extends EventName>(event: E, payload: EventMap[E]): void;
  listenerCount(event: EventName): number;
}

const DEFAULTS: Handlers = {
  'app:info': () => ({ name: 'Shear', version: '0.1.0-test', platform: 'linux' }),
  'hosts:list': () => [],
  'runs:list': () => [],
  'history:list': () => [],
  'hostkey:pending': () => [],
};

/** A fake ShearApi: the renderer's unit boundary. Records every call; `emit` plays engine events. */
export function fakeApi(handlers: Handlers = {}): FakeApi {
  const all: Handlers = { ...DEFAULTS, ...handlers };
  const calls: FakeApi['calls'] = [];
  const listeners = new Map<EventName, Set<(payload: never) => void>>();
  const api: ShearApi = {
    invoke: async <C extends ChannelName>(channel: C, request: RequestOf<C>): Promise<ResponseOf<C>> => {
      calls.push({ channel, request });
      const handler = all[channel] as Handler<C> | undefined;
      if (!handler) throw new Error(`fake api: no handler for ${channel}`);
      return handler(request);
    },
    on: <E extends EventName>(event: E, listener: (payload: EventMap[E]) => void) => {
      const set = listeners.get(event) ?? new Set();
      set.add(listener as (payload: never) => void);
      listeners.set(event, set);
      return () => void set.delete(listener as (payload: never) => void);
    },
  };
  return {
    api,
    calls,
    requestsTo: <C extends ChannelName>(channel: C) => calls.filter((c) => c.channel === channel).map((c) => c.request as RequestOf<C>),
    emit: (event, payload) => {
      for (const l of listeners.get(event) ?? []) (l as (p: typeof payload) => void)(payload);
    },
    listenerCount: (event) => listeners.get(event)?.size ?? 0,
  };
}

export function apiError(message: string, kind?: string, name = 'SshError'): ApiError {
  return new ApiError({ name, message, ...(kind ? { kind } : {}) });
}

// ---------- fixtures ----------

export const HOST: Host = { id: 'h1', name: 'pve1', address: '192.168.1.10', port: 22, user: 'root', authKind: 'agent', hasSecret: false };
export const HOST2: Host = { id: 'h2', name: 'lab', address: 'lab.local', port: 2222, user: 'admin', authKind: 'key', privateKeyPath: '~/.ssh/id_ed25519', hasSecret: true };

export const MiB = 1024 * 1024;

export function vm(id: string, disks: Array<{ device: string; sizeBytes: number; role?: 'disk' | 'efivars' }>): VmDetails {
  return {
    id,
    name: id,
    pid: 1000,
    qmpSockets: [`/run/qemu/${id}.qmp`],
    guestAgentSocket: null,
    argv: ['qemu-system-x86_64'],
    runState: 'running',
    qemuVersion: '10.0.2',
    disks: disks.map((d) => ({
      device: d.device,
      qomPath: `/machine/peripheral/${d.device}`,
      blockBackend: '',
      nodeName: `${d.device}-node`,
      format: 'qcow2',
      sizeBytes: d.sizeBytes,
      file: `/var/lib/vms/${id}-${d.device}.qcow2`,
      backingFile: null,
      role: d.role ?? 'disk',
    })),
  };
}

export const VMS: VmDetails[] = [
  vm('web', [
    { device: 'scsi0', sizeBytes: 32 * MiB },
    { device: 'efidisk0', sizeBytes: 528 * 1024, role: 'efivars' },
  ]),
  vm('db', [{ device: 'vd0', sizeBytes: 64 * MiB }]),
];

export const DIR_STORAGE: StorageInfo = { spec: 'dir:/var/lib/shear-fleece', kind: 'dir', formats: ['qcow2', 'raw'], thin: true, pathBased: true, freeBytes: 20 * 1024 * MiB };
export const LVMTHIN_STORAGE: StorageInfo = { spec: 'lvmthin:pve/data', kind: 'lvmthin', formats: ['raw'], thin: true, pathBased: false, freeBytes: 100 * 1024 * MiB };
export const THICK_STORAGE: StorageInfo = { ...DIR_STORAGE, spec: 'dir:/srv/thick', thin: false };

export const PLAN: BackupPlanPreview = {
  images: [
    { vmId: 'web', device: 'scsi0', name: 'vm-web-fleece-0.qcow2', path: '/var/lib/shear-fleece/vm-web-fleece-0.qcow2', format: 'qcow2', sizeBytes: 32 * MiB },
    { vmId: 'db', device: 'vd0', name: 'vm-db-fleece-0.qcow2', path: '/var/lib/shear-fleece/vm-db-fleece-0.qcow2', format: 'qcow2', sizeBytes: 64 * MiB },
  ],
  direct: [{ vmId: 'web', device: 'efidisk0', sizeBytes: 528 * 1024, reason: 'efivars is copied directly' }],
  warnings: [],
};

export function run(over: Partial<RunSnapshot> = {}): RunSnapshot {
  return {
    id: 'run-1',
    kind: 'backup',
    hostId: 'h1',
    hostLabel: 'pve1 (root@192.168.1.10:22)',
    vmIds: ['web'],
    state: 'running',
    startedAt: 1_700_000_000_000,
    finishedAt: null,
    steps: [],
    disks: [],
    log: [],
    warnings: [],
    archives: [],
    error: null,
    ...over,
  };
}

export function lines(from: number, to: number, level: 'info' | 'warn' | 'error' | 'debug' = 'info'): RunSnapshot['log'] {
  const out: RunSnapshot['log'] = [];
  for (let seq = from; seq <= to; seq++) out.push({ seq, time: 1_700_000_000_000 + seq, level, message: `line ${seq}`, vm: 'web' });
  return out;
}

export function leftover(id: string, cls: Leftover['class'], over: Partial<Leftover> = {}): Leftover {
  return { id, kind: 'image', class: cls, reason: `${cls} because`, description: `item ${id}`, runId: null, vm: null, urgent: false, ...over };
}
