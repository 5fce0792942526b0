import { z } from 'zod';
import type { CleanupReport, ImageFormat, Leftover, Manifest, VmDetails } from './model.js';

/**
 * The ONE contract between the engine side (Electron main process, or the
 * browser-mode server) and the renderer: invoke channels named `domain:action`
 * with a runtime schema for each request and the response type, and the events
 * main pushes to the renderer. Both transports are generated from this table;
 * no payload reaches a handler without passing its schema.
 */

// ---------- shared shapes ----------

export const hostAuthSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('agent') }),
  z.object({ kind: z.literal('key'), privateKeyPath: z.string().min(1).max(4096), passphrase: z.string().max(1024).optional() }),
  z.object({ kind: z.literal('password'), password: z.string().min(1).max(1024) }),
]);
export type HostAuthInput = z.infer<typeof hostAuthSchema>;

export const hostInputSchema = z.object({
  name: z.string().trim().min(1, 'name is required').max(100),
  address: z.string().trim().min(1, 'address is required').max(255).regex(/^[^\s@/]+$/, 'address must be a host name, IP address or ~/.ssh/config alias'),
  port: z.number().int().min(1).max(65535),
  user: z.string().trim().min(1, 'user is required').max(64).regex(/^[^\s@:]+$/, 'user must not contain spaces, @ or :'),
  auth: hostAuthSchema,
});
export type HostInput = z.infer<typeof hostInputSchema>;

/** A host as stored: secrets never leave the main side. */
export interface Host {
  id: string;
  name: string;
  address: string;
  port: number;
  user: string;
  authKind: HostAuthInput['kind'];
  privateKeyPath?: string;
  /** A password or passphrase is stored (encrypted) for this host. */
  hasSecret: boolean;
}

/** What names a storage: `dir:/path`, `lvmthin:VG/POOL`, `zfs:POOL/DATASET`, `pve:…` or a Proxmox storage id. */
export const STORAGE_SPEC_RE = /^(dir:\/|lvmthin:|zfs:|pve:|[A-Za-z][A-Za-z0-9\-_.]*$)/;
export const STORAGE_SPEC_HELP = 'dir:/path, lvmthin:VG/POOL, zfs:POOL/DATASET or a Proxmox storage id';
const storageSpecSchema = z
  .string()
  .trim()
  .regex(STORAGE_SPEC_RE, `storage must be ${STORAGE_SPEC_HELP}`)
  .max(4096);
const fleecingSchema = z
  .object({ storage: storageSpecSchema, format: z.enum(['auto', 'qcow2', 'raw']) })
  .nullable();
const targetSchema = z
  .string()
  .trim()
  .regex(/^(dir:\/|[A-Za-z][A-Za-z0-9\-_.]*$)/, 'target must be dir:/absolute/path or a Proxmox backup storage id')
  .max(4096);
const idSchema = z.string().min(1).max(200);

/** An archive folder on the host: an absolute path. */
const archivePathSchema = z
  .string()
  .min(2)
  .max(4096)
  .refine((p) => p.startsWith('/') && !p.includes('\0'), 'an archive is an absolute folder path on the host');

export const restoreRequestSchema = z.object({
  hostId: idSchema,
  archive: archivePathSchema,
  /** Devices to restore; empty: all (only for new images). */
  disks: z.array(z.string().min(1).max(64)).max(64),
  target: z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('new'), storage: storageSpecSchema }),
    // Overwrites the disks of a VM that is not running: only with an explicit confirmation.
    z.object({ kind: z.literal('vm'), vm: z.string().min(1).max(128), confirm: z.literal(true) }),
  ]),
}).refine((r) => r.target.kind === 'new' || r.disks.length > 0, { message: 'name the disks to overwrite', path: ['disks'] });
export type RestoreRequest = z.input<typeof restoreRequestSchema>;

export const backupRequestSchema = z.object({
  hostId: idSchema,
  vmIds: z.array(idSchema).min(1, 'choose at least one VM').max(100),
  fleecing: fleecingSchema,
  target: targetSchema,
  /** MiB/s per disk; absent = unlimited. */
  bwlimitMiB: z.number().positive().max(100_000).optional(),
});
export type BackupRequest = z.infer<typeof backupRequestSchema>;

export interface StorageInfo {
  spec: string;
  kind: 'dir' | 'lvmthin' | 'zfs' | 'proxmox';
  formats: ImageFormat[];
  thin: boolean;
  pathBased: boolean;
  freeBytes: number;
}

export interface PlannedImage {
  vmId: string;
  device: string;
  name: string;
  path: string;
  format: ImageFormat;
  sizeBytes: number;
}

export interface BackupPlanPreview {
  images: PlannedImage[];
  /** Disks copied without a fleecing image (firmware state, or fleecing off). */
  direct: Array<{ vmId: string; device: string; sizeBytes: number; reason: string }>;
  warnings: string[];
}

export type RunState = 'running' | 'succeeded' | 'failed' | 'cancelled';

/** What a run does: a backup, or checking or restoring an archive. */
export type RunKind = 'backup' | 'verify' | 'restore';

export interface RunLogLine {
  seq: number;
  time: number;
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  vm?: string;
  disk?: string;
}

export interface RunDiskProgress {
  vm: string;
  disk: string;
  done: number;
  total: number;
  /** Bytes per second over the last few seconds. */
  rate: number;
  etaSeconds: number | null;
  /** The guest's average write latency on this disk now (last poll) and before the backup, in µs. */
  latencyNowUs?: number;
  latencyBeforeUs?: number | null;
}

export interface RunSnapshot {
  id: string;
  kind: RunKind;
  hostId: string;
  hostLabel: string;
  vmIds: string[];
  state: RunState;
  startedAt: number;
  finishedAt: number | null;
  steps: Array<{ vm: string; step: string; state: 'started' | 'done' | 'failed'; ms?: number }>;
  disks: RunDiskProgress[];
  /** The newest lines (the buffer is capped). */
  log: RunLogLine[];
  warnings: string[];
  archives: string[];
  error: string | null;
}

export interface HistoryEntry {
  runId: string;
  /** Absent in entries written before verify/restore existed: those were backups. */
  kind?: RunKind;
  /** The host the run was on (entries of older versions lack it). */
  hostId?: string;
  hostLabel: string;
  vmIds: string[];
  state: RunState;
  startedAt: number;
  finishedAt: number;
  archives: string[];
  error: string | null;
}

export interface HostKeyPrompt {
  promptId: string;
  host: string;
  port: number;
  keyType: string;
  fingerprint: string;
}

/** A host from the user's ~/.ssh/config, resolved as ssh would. */
export interface SshConfigHost {
  alias: string;
  host: string;
  port: number;
  user: string;
  identityFile: string | null;
  jumps: string[];
}

export interface Settings {
  /**
   * Linux desktops without a keyring make Electron's safeStorage fall back to
   * "basic_text", which is not real encryption: secrets are refused unless this is on.
   */
  allowBasicTextSecrets: boolean;
}

export interface AppInfo {
  name: string;
  version: string;
  platform: string;
}

// ---------- channels ----------

interface Channel<S extends z.ZodType, Res> {
  schema: S;
  /** Type carrier only. */
  readonly response?: Res;
}
const channel = <Res>() => <S extends z.ZodType>(schema: S): Channel<S, Res> => ({ schema });

const none = z.undefined().or(z.null()).transform(() => undefined);

export const channels = {
  'app:info': channel<AppInfo>()(none),
  'settings:get': channel<Settings>()(none),
  'settings:set': channel<Settings>()(z.object({ allowBasicTextSecrets: z.boolean() })),
  'hosts:list': channel<Host[]>()(none),
  'hosts:save': channel<Host>()(z.object({ id: idSchema.optional(), host: hostInputSchema })),
  'hosts:remove': channel<void>()(z.object({ id: idSchema })),
  'hosts:sshConfig': channel<SshConfigHost[]>()(none),
  'hosts:test': channel<{ label: string; vmCount: number }>()(z.object({ id: idSchema })),
  'hostkey:answer': channel<void>()(z.object({ promptId: idSchema, trust: z.boolean() })),
  /** Questions still open (a reloaded or second window asks, then shows them). */
  'hostkey:pending': channel<HostKeyPrompt[]>()(none),
  'vms:list': channel<VmDetails[]>()(z.object({ hostId: idSchema })),
  'storages:describe': channel<StorageInfo>()(z.object({ hostId: idSchema, spec: storageSpecSchema })),
  'backup:plan': channel<BackupPlanPreview>()(backupRequestSchema),
  'backup:start': channel<{ runId: string }>()(backupRequestSchema),
  'runs:list': channel<RunSnapshot[]>()(none),
  'runs:cancel': channel<void>()(z.object({ runId: idSchema })),
  'history:list': channel<HistoryEntry[]>()(none),
  'archives:inspect': channel<Manifest>()(z.object({ hostId: idSchema, archive: archivePathSchema })),
  'archives:verify': channel<{ runId: string }>()(z.object({ hostId: idSchema, archive: archivePathSchema })),
  'archives:restore': channel<{ runId: string }>()(restoreRequestSchema),
  'leftovers:scan': channel<Leftover[]>()(z.object({ hostId: idSchema, storages: z.array(storageSpecSchema).max(50) })),
  'leftovers:clean': channel<CleanupReport>()(
    z.object({ hostId: idSchema, storages: z.array(storageSpecSchema).max(50), ids: z.array(z.string().max(8192)).max(10_000), includeUnknown: z.array(z.string().max(8192)).max(10_000) }),
  ),
} as const;

export type ChannelName = keyof typeof channels;
export type RequestOf<C extends ChannelName> = z.input<(typeof channels)[C]['schema']>;
export type ParsedRequestOf<C extends ChannelName> = z.output<(typeof channels)[C]['schema']>;
export type ResponseOf<C extends ChannelName> = (typeof channels)[C] extends Channel<z.ZodType, infer R> ? R : never;

/** Checks a request against its channel's schema; the message says which field is wrong. */
export function validateRequest<C extends ChannelName>(name: C, input: unknown): ParsedRequestOf<C> {
  const schema = channels[name].schema as unknown as z.ZodType<ParsedRequestOf<C>>;
  const result = schema.safeParse(input);
  if (!result.success) {
    const issues = result.error.issues.map((i) => `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}`).join('; ');
    throw new ValidationError(`${name}: invalid request: ${issues}`);
  }
  return result.data;
}

export class ValidationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ValidationError';
  }
}

// ---------- events (main → renderer) ----------

export interface EventMap {
  /** Batched about every 100 ms: the runs that changed, with only the log lines added since the last batch. */
  'runs:update': RunSnapshot[];
  'hostkey:prompt': HostKeyPrompt;
  /** A question was answered (in any window) or timed out: every window closes it. */
  'hostkey:resolved': { promptId: string };
  /**
   * Said by a face itself, never by the engine: its connection to the engine came back after
   * a loss (browser mode), so events may have been missed and state must be read again.
   */
  'api:reconnected': null;
}
export type EventName = keyof EventMap;
/** What the engine emits (and Electron forwards to its windows). */
export const eventNames: EventName[] = ['runs:update', 'hostkey:prompt', 'hostkey:resolved'];
/** What a face says itself: listening to one is valid everywhere, even where it never happens. */
export const faceEventNames: EventName[] = ['api:reconnected'];

// ---------- the wire ----------

/** How a handler's failure crosses IPC or the WebSocket: Electron would otherwise flatten it to a string. */
export interface WireError {
  name: string;
  message: string;
  /** SshError kind (e.g. 'host-key-changed'), so the UI can show the right screen. */
  kind?: string;
}
export type Envelope<T> = { ok: true; value: T } | { ok: false; error: WireError };

/** The API the renderer sees (`window.shear` in Electron, a WebSocket client in browser mode). */
export type ShearApi = {
  invoke<C extends ChannelName>(channel: C, request: RequestOf<C>): Promise<ResponseOf<C>>;
  on<E extends EventName>(event: E, listener: (payload: EventMap[E]) => void): () => void;
};

/**
 * What the preload exposes as `window.shear`. Electron's contextBridge keeps an
 * error's message but drops its other fields (such as `kind`), so the bridge
 * hands over envelopes and the renderer side turns them into typed errors.
 */
export type ShearBridge = {
  invoke<C extends ChannelName>(channel: C, request: RequestOf<C>): Promise<Envelope<ResponseOf<C>>>;
  on<E extends EventName>(event: E, listener: (payload: EventMap[E]) => void): () => void;
};

export function apiFromBridge(bridge: ShearBridge): ShearApi {
  return {
    invoke: async (channel, request) => unwrap(await bridge.invoke(channel, request)),
    on: (event, listener) => bridge.on(event, listener),
  };
}

/** An error from the other side, rebuilt with its name and kind. */
export class ApiError extends Error {
  readonly kind: string | undefined;
  constructor(wire: WireError) {
    super(wire.message);
    this.name = wire.name;
    this.kind = wire.kind;
  }
}

export function unwrap<T>(envelope: Envelope<T>): T {
  if (envelope.ok) return envelope.value;
  throw new ApiError(envelope.error);
}
