import type { QmpClient } from './client.js';
import type { SchemaInfo } from './types.js';

/**
 * What this QEMU can do for fleecing, read from `query-qmp-schema` rather than
 * guessed from the version number: distributions backport features, and
 * Proxmox ships its own patched QEMU.
 */
export interface QemuCapabilities {
  blockdevBackup: boolean;
  copyBeforeWrite: boolean;
  snapshotAccess: boolean;
  /** copy-before-write `cbw-timeout`: a slow fleecing image breaks the snapshot, not the guest. */
  cbwTimeout: boolean;
  /** copy-before-write `on-cbw-error` (break-snapshot). */
  onCbwError: boolean;
  /** blockdev-backup `discard-source`: copied areas are dropped from the fleecing image. */
  discardSource: boolean;
  /** blockdev-backup `x-perf.max-workers`: how many requests the job keeps in flight (QEMU's default is 64). */
  backupMaxWorkers: boolean;
  /** The `file` driver takes `aio: io_uring` (QEMU built with liburing; the host kernel may still refuse it). */
  ioUring: boolean;
  /**
   * Changing a running device's `drive` with qom-set. The schema cannot show a
   * property's runtime writability; it arrived (QEMU 6.0) before copy-before-write
   * (6.2), so a QEMU that has qom-set and copy-before-write has it.
   */
  qomSetDrive: boolean;
  /** Everything fleecing needs is present, including break-snapshot so the guest is never the one to fail. */
  fleecing: boolean;
}

class Schema {
  private readonly byName = new Map<string, SchemaInfo>();

  constructor(entries: SchemaInfo[]) {
    for (const e of entries) this.byName.set(e.name, e);
  }

  command(name: string): SchemaInfo | undefined {
    const e = this.byName.get(name);
    return e?.['meta-type'] === 'command' ? e : undefined;
  }

  type(name: string | undefined): SchemaInfo | undefined {
    return name === undefined ? undefined : this.byName.get(name);
  }

  /** Member names of an object type, including those of a flat union's variant for `tag value`. */
  members(typeName: string | undefined): string[] {
    return (this.type(typeName)?.members ?? []).map((m) => m.name);
  }

  variantType(unionName: string | undefined, caseName: string): string | undefined {
    return this.type(unionName)?.variants?.find((v) => v.case === caseName)?.type;
  }

  /** The type of one member of an object type. */
  memberType(typeName: string | undefined, member: string): string | undefined {
    return this.type(typeName)?.members?.find((m) => m.name === member)?.type;
  }

  /** Values of an enum type (QEMU 7.x lists them in `values`; later versions also as `members`). */
  enumValues(typeName: string | undefined): string[] {
    const t = this.type(typeName);
    if (t?.['meta-type'] !== 'enum') return [];
    return t.values ?? (t.members ?? []).map((m) => m.name);
  }
}

export function capabilitiesFromSchema(entries: SchemaInfo[]): QemuCapabilities {
  const schema = new Schema(entries);
  const blockdevAddArgs = schema.command('blockdev-add')?.['arg-type'];
  const cbwType = schema.variantType(blockdevAddArgs, 'copy-before-write');
  const cbwMembers = schema.members(cbwType);
  const backupArgs = schema.members(schema.command('blockdev-backup')?.['arg-type']);

  const blockdevBackup = schema.command('blockdev-backup') !== undefined;
  const copyBeforeWrite = cbwType !== undefined;
  const snapshotAccess = schema.variantType(blockdevAddArgs, 'snapshot-access') !== undefined;
  const cbwTimeout = cbwMembers.includes('cbw-timeout');
  const onCbwError = cbwMembers.includes('on-cbw-error');
  const discardSource = backupArgs.includes('discard-source');
  const backupPerfType = schema.memberType(schema.command('blockdev-backup')?.['arg-type'], 'x-perf');
  const backupMaxWorkers = schema.members(backupPerfType).includes('max-workers');
  const fileAioType = schema.memberType(schema.variantType(blockdevAddArgs, 'file'), 'aio');
  const ioUring = schema.enumValues(fileAioType).includes('io_uring');
  const qomSetDrive = schema.command('qom-set') !== undefined && copyBeforeWrite;
  return {
    blockdevBackup,
    copyBeforeWrite,
    snapshotAccess,
    cbwTimeout,
    onCbwError,
    discardSource,
    backupMaxWorkers,
    ioUring,
    qomSetDrive,
    // Without on-cbw-error the filter would fail guest writes when the fleecing image fails: never fleece then.
    fleecing: blockdevBackup && copyBeforeWrite && snapshotAccess && qomSetDrive && onCbwError,
  };
}

export async function probeCapabilities(qmp: QmpClient): Promise<QemuCapabilities> {
  return capabilitiesFromSchema(await qmp.execute('query-qmp-schema'));
}
