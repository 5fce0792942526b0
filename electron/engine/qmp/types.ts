/** Shapes of the QMP messages and of the commands/events Shear uses (QEMU's qapi schema). */

export interface QmpVersion {
  qemu: { major: number; minor: number; micro: number };
  package: string;
}

export interface QmpGreeting {
  version: QmpVersion;
  capabilities: string[];
}

export interface QmpEvent<N extends string = string, D = Record<string, unknown>> {
  event: N;
  data: D;
  timestamp: { seconds: number; microseconds: number };
}

export interface BlockInfo {
  device: string;
  qdev?: string;
  removable: boolean;
  locked: boolean;
  inserted?: BlockDeviceInfo;
}

export interface BlockDeviceInfo {
  file: string;
  'node-name'?: string;
  ro: boolean;
  drv: string;
  'backing_file'?: string;
  /** off, on or unmap. */
  'detect_zeroes'?: string;
  image: ImageInfo;
}

export interface ImageInfo {
  filename: string;
  format: string;
  'virtual-size': number;
  'actual-size'?: number;
  'backing-filename'?: string;
  'backing-image'?: ImageInfo;
}

export interface NamedBlockNode extends BlockDeviceInfo {
  'node-name': string;
}

export interface JobInfo {
  id: string;
  type: string;
  status: string;
  'current-progress': number;
  'total-progress': number;
  error?: string;
}

export interface StatusInfo {
  running: boolean;
  singlestep?: boolean;
  status: string;
}

/** One entry of `query-qmp-schema` (SchemaInfo); type names are masked as numbers by QEMU. */
export interface SchemaInfo {
  name: string;
  'meta-type': 'builtin' | 'enum' | 'array' | 'object' | 'alternate' | 'command' | 'event';
  'arg-type'?: string;
  'ret-type'?: string;
  members?: Array<{ name: string; type?: string; default?: unknown }>;
  values?: string[];
  tag?: string;
  variants?: Array<{ case: string; type: string }>;
  'element-type'?: string;
  features?: string[];
}

/** Commands with known argument and return types; anything else goes through as `unknown`. */
export interface QmpCommandMap {
  'qmp_capabilities': { args: { enable?: string[] }; ret: Record<string, never> };
  'query-version': { args: undefined; ret: QmpVersion };
  'query-status': { args: undefined; ret: StatusInfo };
  'query-block': { args: undefined; ret: BlockInfo[] };
  'query-named-block-nodes': { args: { flat?: boolean } | undefined; ret: NamedBlockNode[] };
  'query-jobs': { args: undefined; ret: JobInfo[] };
  'query-qmp-schema': { args: undefined; ret: SchemaInfo[] };
  'human-monitor-command': { args: { 'command-line': string; 'cpu-index'?: number }; ret: string };
  'qom-get': { args: { path: string; property: string }; ret: unknown };
  'qom-set': { args: { path: string; property: string; value: unknown }; ret: Record<string, never> };
  'stop': { args: undefined; ret: Record<string, never> };
  'cont': { args: undefined; ret: Record<string, never> };
  'quit': { args: undefined; ret: Record<string, never> };
}

export type QmpCommandName = keyof QmpCommandMap;
