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
  const qomSetDrive = schema.command('qom-set') !== undefined && copyBeforeWrite;
  return {
    blockdevBackup,
    copyBeforeWrite,
    snapshotAccess,
    cbwTimeout,
    onCbwError,
    discardSource,
    qomSetDrive,
    // Without on-cbw-error the filter would fail guest writes when the fleecing image fails: never fleece then.
    fleecing: blockdevBackup && copyBeforeWrite && snapshotAccess && qomSetDrive && onCbwError,
  };
}

export async function probeCapabilities(qmp: QmpClient): Promise<QemuCapabilities> {
  return capabilitiesFromSchema(await qmp.execute('query-qmp-schema'));
}
