/**
 * Declarative VM specs for the lab, their validation, and the QEMU command line built from
 * them. Pure: no files, no processes (qemu.ts does those), so the mapping is easy to read
 * and to check against the shapes Proxmox and plain QEMU hosts use.
 */

export type DiskFormat = 'qcow2' | 'raw';

/** A data disk. Sizes are bytes, a multiple of 512 (what a guest can address). */
export interface DataDiskSpec {
  /** QEMU device id, e.g. `vd0` / `scsi0`. */
  id: string;
  /**
   * virtio: `-blockdev` file + format nodes (`<id>-file`, `<id>-fmt`) under virtio-blk-pci.
   * scsi: Proxmox style `-drive if=none,id=drive-<id>` under scsi-hd on one virtio-scsi-pci.
   * sata: `-drive if=none,id=drive-<id>` under ide-hd on a port of q35's built-in AHCI (`ide.N`),
   *   as Proxmox attaches its ideN and sataN disks there.
   * nvme: `-blockdev` nodes under an nvme controller (the drive is the controller's own namespace).
   * usb: `-drive if=none,id=drive-<id>` under usb-storage on one qemu-xhci (QEMU makes the
   *   scsi-hd inside it: `/machine/peripheral/<id>/<id>.0/legacy[0]`).
   * virtio-legacy: old-style `-drive file=…,if=virtio`: QEMU names the BlockBackend `virtio0`,
   *   its nodes `#blockNNN`, and the device is anonymous. At most one per VM.
   */
  bus: 'virtio' | 'scsi' | 'sata' | 'nvme' | 'usb' | 'virtio-legacy';
  /** Default qcow2. */
  format?: DiskFormat;
  sizeBytes: number;
  /**
   * virtio only: the device runs in its own I/O thread (`-object iothread`), as Proxmox VE
   * sets up disks with `iothread=1` (the default for new disks since 8.x).
   */
  iothread?: boolean;
  /**
   * virtio only: a `throttle` filter node (`<id>-throttle`, group `tg-<id>`) on top of the format
   * node, the device on it, limited to this many bytes per second: the `-blockdev` layout with
   * I/O limits (Proxmox VE 9 puts one over every drive).
   */
  throttleBytesPerSecond?: number;
}

/**
 * A UEFI variable store (Proxmox `efidisk0`): pflash unit 1, a copy of OVMF_VARS_4M.fd, with
 * the OVMF code on unit 0 (read-only). Its size is the template's, so none is given.
 */
export interface EfivarsDiskSpec {
  id: string;
  bus: 'efivars';
  /** Default raw (qcow2 is converted from the raw template, as on a Proxmox dir storage). */
  format?: DiskFormat;
  sizeBytes?: never;
}

export type DiskSpec = DataDiskSpec | EfivarsDiskSpec;

export interface VmSpec {
  /** Also the `-name` and the file names of its sockets. */
  name: string;
  disks: DiskSpec[];
  /** Adds a guest-agent channel (`<name>.qga`). No agent answers on it: there is no guest OS. */
  guestAgent?: boolean;
  /** Start with `-S`: run state `prelaunch` until someone sends `cont`. */
  paused?: boolean;
  /**
   * A second QMP monitor (`<name>.probe.qmp`) for the test's own guest I/O, so timing guest
   * writes never holds the monitor the app under test uses. (Commands of all monitors still run
   * one at a time in QEMU's main loop.)
   */
  probeMonitor?: boolean;
  /** Escape hatch for devices the spec does not model; appended to the command line. */
  extraArgs?: string[];
}

/** A disk as created for a running lab VM. */
export interface LabDisk {
  id: string;
  bus: DiskSpec['bus'];
  format: DiskFormat;
  /** Virtual size in bytes, as the guest sees it. */
  sizeBytes: number;
  /** The image file. */
  path: string;
  /**
   * QOM path of the device that owns the `drive` property (the one to `qom-set` a filter on):
   * `/machine/peripheral/<id>/virtio-backend`, `/machine/peripheral/<id>`, or
   * `/machine/system.flash1` for the UEFI vars. HMP `qemu-io -d` accepts the same path.
   */
  qdevPath: string;
  /** The BlockBackend name (`drive-<id>`) for `-drive` style disks; null for `-blockdev`. */
  blockBackend: string | null;
  /** Our node name for `-blockdev` disks (`<id>-fmt`); null where QEMU picks `#blockNNN`. */
  nodeName: string | null;
}

// Ids the command line below uses itself; a disk with one of them would clash.
const RESERVED_IDS = new Set(['scsihw0', 'qga0', 'qga-serial0', 'qga-port0', 'pflash0', 'pflash1', 'xhci']);
const ID_RE = /^[A-Za-z][A-Za-z0-9_-]{0,30}$/;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,30}$/;

/** Throws a clear error for a spec QEMU would reject or the lab cannot serve. */
export function validateVmSpec(spec: VmSpec): void {
  const where = `lab VM ${JSON.stringify(spec.name)}`;
  if (!NAME_RE.test(spec.name)) {
    throw new Error(`${where}: name must match ${String(NAME_RE)} (it is used in file and socket names)`);
  }
  const seen = new Set<string>();
  let efivars = 0;
  for (const disk of spec.disks) {
    if (!ID_RE.test(disk.id)) throw new Error(`${where}: disk id ${JSON.stringify(disk.id)} must match ${String(ID_RE)}`);
    if (RESERVED_IDS.has(disk.id)) throw new Error(`${where}: disk id ${disk.id} is used by the lab itself`);
    if (seen.has(disk.id)) throw new Error(`${where}: duplicate disk id ${disk.id}`);
    seen.add(disk.id);
    if (disk.bus === 'efivars') {
      efivars += 1;
    } else if (!Number.isSafeInteger(disk.sizeBytes) || disk.sizeBytes <= 0 || disk.sizeBytes % 512 !== 0) {
      throw new Error(`${where}: disk ${disk.id} size ${disk.sizeBytes} must be a positive multiple of 512`);
    }
  }
  if (efivars > 1) throw new Error(`${where}: at most one efivars disk (pflash unit 1)`);
  if (spec.disks.filter((d) => d.bus === 'virtio-legacy').length > 1) throw new Error(`${where}: at most one virtio-legacy disk (its device path is the first anonymous one)`);
  if (spec.disks.filter((d) => d.bus === 'sata').length > 6) throw new Error(`${where}: q35's AHCI has 6 ports`);
}

/** The QOM path of a disk's device, as `query-block` reports it in `qdev` (normalized). */
export function qdevPathFor(disk: Pick<DiskSpec, 'id' | 'bus'>): string {
  switch (disk.bus) {
    case 'virtio':
      // The PCI proxy has no drive; its child virtio-blk-device holds the BlockBackend.
      return `/machine/peripheral/${disk.id}/virtio-backend`;
    case 'scsi':
    case 'sata':
    case 'nvme':
      return `/machine/peripheral/${disk.id}`;
    case 'usb':
      return `/machine/peripheral/${disk.id}/${disk.id}.0/legacy[0]`;
    case 'virtio-legacy':
      return '/machine/peripheral-anon/device[0]/virtio-backend';
    case 'efivars':
      return '/machine/system.flash1';
  }
}

/** QemuOpts values end at a comma; a literal comma is written twice. */
export function qemuOptValue(value: string): string {
  return value.replaceAll(',', ',,');
}

export interface QemuLayout {
  qmpSocket: string;
  probeSocket: string | null;
  qgaSocket: string | null;
  pidFile: string;
  disks: LabDisk[];
  /** OVMF_CODE_4M.fd, needed when there is an efivars disk. */
  ovmfCode: string | null;
  /** `-L` dirs (searched in order) for a QEMU whose data files are not where it was built to look. */
  dataDirs: string[];
}

/** The full QEMU argument list (without the binary) for a spec and its files. */
export function buildQemuArgs(spec: VmSpec, layout: QemuLayout): string[] {
  const o = qemuOptValue;
  const args: string[] = [];
  for (const dataDir of layout.dataDirs) args.push('-L', dataDir);
  args.push(
    '-machine', 'q35,accel=tcg',
    '-nodefaults',
    '-display', 'none',
    '-m', '128',
    '-name', spec.name,
    '-pidfile', layout.pidFile,
    '-qmp', `unix:${o(layout.qmpSocket)},server=on,wait=off`,
  );
  if (layout.probeSocket !== null) args.push('-qmp', `unix:${o(layout.probeSocket)},server=on,wait=off`);
  if (spec.paused) args.push('-S');

  const efivars = layout.disks.find((d) => d.bus === 'efivars');
  if (efivars) {
    if (layout.ovmfCode === null) throw new Error(`lab VM ${spec.name}: an efivars disk needs the OVMF code`);
    args.push(
      '-drive', `if=pflash,unit=0,format=raw,readonly=on,file=${o(layout.ovmfCode)}`,
      '-drive', `if=pflash,unit=1,id=drive-${efivars.id},format=${efivars.format},file=${o(efivars.path)}`,
    );
  }

  const scsiDisks = layout.disks.filter((d) => d.bus === 'scsi');
  if (scsiDisks.length > 0) args.push('-device', 'virtio-scsi-pci,id=scsihw0');
  const sataDisks = layout.disks.filter((d) => d.bus === 'sata');
  if (layout.disks.some((d) => d.bus === 'usb')) args.push('-device', 'qemu-xhci,id=xhci');
  for (const disk of layout.disks) {
    if (disk.bus === 'virtio') {
      args.push(
        '-blockdev', `driver=file,filename=${o(disk.path)},node-name=${disk.id}-file`,
        '-blockdev', `driver=${disk.format},file=${disk.id}-file,node-name=${disk.id}-fmt`,
      );
      const own = spec.disks.find((d): d is DataDiskSpec => d.id === disk.id && d.bus === 'virtio');
      let top = `${disk.id}-fmt`;
      if (own?.throttleBytesPerSecond) {
        top = `${disk.id}-throttle`;
        args.push(
          '-object', `throttle-group,id=tg-${disk.id},x-bps-total=${own.throttleBytesPerSecond}`,
          '-blockdev', `driver=throttle,throttle-group=tg-${disk.id},file=${disk.id}-fmt,node-name=${top}`,
        );
      }
      if (own?.iothread) args.push('-object', `iothread,id=iothread-${disk.id}`);
      args.push('-device', `virtio-blk-pci,drive=${top},id=${disk.id}${own?.iothread ? `,iothread=iothread-${disk.id}` : ''}`);
    } else if (disk.bus === 'scsi') {
      // Proxmox puts every disk of one controller on scsi-id 0 and counts up the LUN.
      const lun = scsiDisks.indexOf(disk);
      args.push(
        '-drive', `if=none,id=drive-${disk.id},file=${o(disk.path)},format=${disk.format},discard=on`,
        '-device', `scsi-hd,bus=scsihw0.0,channel=0,scsi-id=0,lun=${lun},drive=drive-${disk.id},id=${disk.id}`,
      );
    } else if (disk.bus === 'sata') {
      args.push(
        '-drive', `if=none,id=drive-${disk.id},file=${o(disk.path)},format=${disk.format}`,
        '-device', `ide-hd,bus=ide.${sataDisks.indexOf(disk)},drive=drive-${disk.id},id=${disk.id}`,
      );
    } else if (disk.bus === 'nvme') {
      args.push(
        '-blockdev', `driver=file,filename=${o(disk.path)},node-name=${disk.id}-file`,
        '-blockdev', `driver=${disk.format},file=${disk.id}-file,node-name=${disk.id}-fmt`,
        '-device', `nvme,drive=${disk.id}-fmt,serial=${disk.id},id=${disk.id}`,
      );
    } else if (disk.bus === 'usb') {
      args.push(
        '-drive', `if=none,id=drive-${disk.id},file=${o(disk.path)},format=${disk.format}`,
        '-device', `usb-storage,bus=xhci.0,drive=drive-${disk.id},id=${disk.id}`,
      );
    } else if (disk.bus === 'virtio-legacy') {
      args.push('-drive', `file=${o(disk.path)},if=virtio,format=${disk.format}`);
    }
  }

  if (layout.qgaSocket !== null) {
    args.push(
      '-chardev', `socket,path=${o(layout.qgaSocket)},server=on,wait=off,id=qga0`,
      '-device', 'virtio-serial,id=qga-serial0',
      '-device', 'virtserialport,chardev=qga0,name=org.qemu.guest_agent.0,id=qga-port0',
    );
  }
  args.push(...(spec.extraArgs ?? []));
  return args;
}
