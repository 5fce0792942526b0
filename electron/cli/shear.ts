import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Leftover, RunEvent, VmDetails, VmSummary } from '../../shared/model.js';
import { BackupCancelledError, runBackup } from '../engine/backup/run-backup.js';
import { runOfflineBackup } from '../engine/backup/offline-backup.js';
import type { FleecingFormatChoice } from '../engine/backup/plan.js';
import { detailsWithoutQemu, hostDriver, resolveStorages } from '../engine/hosts/host-driver.js';
import type { SshHostSession } from '../engine/hosts/host-session.js';
import { inspectVm } from '../engine/hosts/vm-inspect.js';
import type { Logger } from '../engine/log.js';
import { SshError } from '../engine/ssh/errors.js';
import { parseStorageSpec } from '../engine/storage/storage.js';
import { DEFAULT_JOURNAL_DIR } from '../engine/backup/journal.js';
import { cleanupLeftovers } from '../engine/leftovers/cleanup.js';
import { scanLeftovers } from '../engine/leftovers/scan.js';
import { verifyArchive } from '../engine/archive/verify.js';
import { restoreAsNewImages } from '../engine/archive/restore.js';
import { restoreIntoVm } from '../engine/archive/restore-into.js';
import { ProxmoxStorage } from '../engine/storage/proxmox.js';
import type { Storage } from '../engine/storage/storage.js';
import { shellQuote } from '../engine/ssh/quote.js';
import { connectHost, type HostArgs } from './connect-host.js';
import { createRenderer, type Renderer } from './render.js';

const USAGE = `shear — point-in-time backups of running QEMU VMs with backup fleecing

  shear vms     --host USER@HOST [--port N] [--identity FILE] [--known-hosts FILE] [--accept-new] [--json]
  shear backup  --host ... --vm ID|NAME --target dir:PATH|PVE-STORAGE
                [--fleecing-storage STORAGE | --no-fleecing] [--fleecing-format auto|qcow2|raw]
                [--bwlimit MiB/s] [--json]
  shear leftovers --host ... [--fleecing-storage STORAGE]... [--json]
  shear cleanup   --host ... [--fleecing-storage STORAGE]... [--include-unknown ITEM]... [--yes] [--json]
  shear verify  --host ... --archive PATH [--json]
  shear restore --host ... --archive PATH --to STORAGE [--disk DEVICE]... [--json]
  shear restore --host ... --archive PATH --vm ID|NAME --disk DEVICE... --yes [--json]

STORAGE: dir:PATH | lvmthin:VG/POOL | zfs:POOL/DATASET
--host also takes an ~/.ssh/config alias. Host keys are checked against --known-hosts
(default ~/.ssh/known_hosts); an unknown key is refused unless --accept-new.
Secrets come from the environment: SHEAR_KEY_PASSPHRASE, SHEAR_PASSWORD (or ssh-agent).
Exit code 0 only when the backup is complete and verified in the target.
cleanup without --yes prints what it would do and changes nothing; items of unknown
origin are removed only when named with --include-unknown (ids as leftovers prints them).`;

class UsageError extends Error {}

const options = {
  host: { type: 'string' },
  port: { type: 'string' },
  identity: { type: 'string' },
  'known-hosts': { type: 'string' },
  'accept-new': { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
  vm: { type: 'string' },
  target: { type: 'string' },
  'fleecing-storage': { type: 'string', multiple: true },
  'include-unknown': { type: 'string', multiple: true },
  yes: { type: 'boolean', default: false },
  'no-fleecing': { type: 'boolean', default: false },
  'fleecing-format': { type: 'string', default: 'auto' },
  bwlimit: { type: 'string' },
  archive: { type: 'string' },
  to: { type: 'string' },
  disk: { type: 'string', multiple: true },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>['values'];

function hostArgs(v: Values): HostArgs {
  if (!v.host) throw new UsageError('--host is required');
  let port: number | undefined;
  if (v.port !== undefined) {
    port = Number(v.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`--port must be 1-65535, not "${v.port}"`);
  }
  return {
    host: v.host,
    ...(port ? { port } : {}),
    ...(v.identity ? { identity: v.identity } : {}),
    ...(v['known-hosts'] ? { knownHosts: v['known-hosts'] } : {}),
    acceptNew: v['accept-new'] ?? false,
  };
}

function toolVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    return pkg.version;
  } catch {
    return '0.0.0';
  }
}

function explain(err: unknown): string {
  if (err instanceof SshError && err.kind === 'host-key-unknown') {
    return `${err.message}\nVerify the fingerprint out of band, then run again with --accept-new to trust it.`;
  }
  return err instanceof Error ? err.message : String(err);
}

function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}

/** Checks storage specs before connecting; a bare id is a Proxmox storage, resolved once connected. */
function storageSpecs(v: Values): string[] {
  const specs = v['fleecing-storage'] ?? [];
  for (const spec of specs) {
    if (!spec.includes(':')) continue;
    try {
      parseStorageSpec(spec);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  }
  return specs;
}

const journalDir = () => process.env.SHEAR_JOURNAL_DIR ?? DEFAULT_JOURNAL_DIR;

function printLeftover(item: Leftover): void {
  const extra = [item.sizeBytes !== undefined ? formatBytes(item.sizeBytes) : '', item.ageMs !== undefined ? `${Math.round(item.ageMs / 60_000)} min old` : '']
    .filter(Boolean).join(', ');
  process.stdout.write(`${item.urgent ? '!' : ' '} ${item.class.padEnd(8)} ${item.id}\n    ${item.description}${extra ? ` [${extra}]` : ''}\n    ${item.reason}\n`);
}

async function commandLeftovers(v: Values, log: Logger): Promise<number> {
  const specs = storageSpecs(v);
  const host = await connectHost(hostArgs(v), log);
  try {
    const storages = await resolveStorages(await hostDriver(host), specs);
    const { items } = await scanLeftovers(host, { journalDir: journalDir(), storages, warn: (m) => log('warn', m) });
    if (v.json) for (const item of items) process.stdout.write(`${JSON.stringify({ type: 'leftover', ...item })}\n`);
    else if (items.length === 0) process.stdout.write(`no leftovers on ${host.label}\n`);
    else items.forEach(printLeftover);
    return 0;
  } finally {
    host.close();
  }
}

async function commandCleanup(v: Values, log: Logger): Promise<number> {
  const specs = storageSpecs(v);
  const includeUnknown = v['include-unknown'] ?? [];
  const host = await connectHost(hostArgs(v), log);
  try {
    const storages = await resolveStorages(await hostDriver(host), specs);
    const scope = { journalDir: journalDir(), storages, warn: (m: string) => log('warn', m) };
    const { items } = await scanLeftovers(host, scope);
    const unknownIds = new Set(items.filter((i) => i.class === 'unknown').map((i) => i.id));
    for (const id of includeUnknown) {
      if (!unknownIds.has(id)) throw new UsageError(`--include-unknown ${id}: no unknown-origin item with that id (run \`shear leftovers\` for ids)`);
    }
    const ids = items.filter((i) => i.class === 'orphaned').map((i) => i.id);
    if (!v.yes) {
      const plan = items.filter((i) => ids.includes(i.id) || includeUnknown.includes(i.id));
      if (v.json) for (const item of plan) process.stdout.write(`${JSON.stringify({ type: 'would-remove', ...item })}\n`);
      else {
        process.stdout.write(plan.length ? 'would remove (run again with --yes):\n' : 'nothing to remove\n');
        plan.forEach(printLeftover);
      }
      return 0;
    }
    const report = await cleanupLeftovers(host, { ...scope, ids, includeUnknown });
    if (v.json) {
      for (const r of report.removed) process.stdout.write(`${JSON.stringify({ type: 'removed', ...r })}\n`);
      for (const r of report.skipped) process.stdout.write(`${JSON.stringify({ type: 'skipped', ...r })}\n`);
      for (const r of report.failed) process.stdout.write(`${JSON.stringify({ type: 'failed', ...r })}\n`);
      process.stdout.write(`${JSON.stringify({ type: 'result', ok: report.failed.length === 0 })}\n`);
    } else {
      for (const r of report.removed) process.stdout.write(`removed  ${r.description}\n`);
      for (const r of report.skipped) process.stdout.write(`skipped  ${r.description}: ${r.reason}\n`);
      for (const r of report.failed) process.stdout.write(`FAILED   ${r.description}: ${r.error}\n`);
    }
    return report.failed.length === 0 ? 0 : 1;
  } finally {
    host.close();
  }
}

async function commandVms(v: Values, log: Logger): Promise<number> {
  const host = await connectHost(hostArgs(v), log);
  try {
    const driver = await hostDriver(host);
    const vms = await driver.listVms();
    const details: VmDetails[] = [];
    const notRunning: VmSummary[] = [];
    for (const vm of vms) {
      if (vm.qmpSockets.length === 0) {
        notRunning.push(vm);
        continue;
      }
      try {
        details.push(await inspectVm(host, vm));
      } catch (err) {
        log('warn', `${vm.name}: ${(err as Error).message}`);
      }
    }
    if (v.json) {
      for (const d of details) process.stdout.write(`${JSON.stringify({ type: 'vm', ...d })}\n`);
      for (const d of notRunning) process.stdout.write(`${JSON.stringify({ type: 'vm', ...detailsWithoutQemu(d) })}\n`);
    } else if (details.length === 0 && notRunning.length === 0) {
      process.stdout.write(`no QEMU VMs with a QMP monitor found on ${host.label}\n`);
    } else {
      for (const d of details) {
        process.stdout.write(`${d.id}\t${d.runState}\tQEMU ${d.qemuVersion}\tpid ${d.pid}\n`);
        for (const disk of d.disks) {
          process.stdout.write(`  ${disk.device}\t${formatBytes(disk.sizeBytes)}\t${disk.format}\t${disk.role}\t${disk.file}\n`);
        }
      }
      for (const d of notRunning) {
        process.stdout.write(`${d.id}\t${d.proxmox?.template ? 'template' : (d.proxmox?.status ?? 'stopped')}\t${d.name}\n`);
      }
    }
    return 0;
  } finally {
    host.close();
  }
}

async function commandBackup(v: Values, render: Renderer, log: Logger): Promise<number> {
  const args = hostArgs(v);
  if (!v.vm) throw new UsageError('--vm is required');
  if (!v.target) throw new UsageError('--target is required (dir:PATH, or a Proxmox backup storage id)');
  const target = v.target;
  if (target.includes(':') ? !target.startsWith('dir:/') : !/^[A-Za-z][A-Za-z0-9\-_.]*$/.test(target)) {
    throw new UsageError(`--target must be dir:/absolute/path (or a Proxmox storage id), not "${target}"`);
  }
  if (v['no-fleecing'] && v['fleecing-storage']) throw new UsageError('--no-fleecing and --fleecing-storage exclude each other');
  if (!v['no-fleecing'] && !v['fleecing-storage']) throw new UsageError('give --fleecing-storage STORAGE, or --no-fleecing');
  const format = v['fleecing-format'] as FleecingFormatChoice;
  if (!['auto', 'qcow2', 'raw'].includes(format)) throw new UsageError(`--fleecing-format must be auto, qcow2 or raw, not "${format}"`);
  let bwlimit = 0;
  if (v.bwlimit !== undefined) {
    const mib = Number(v.bwlimit);
    if (!Number.isFinite(mib) || mib <= 0) throw new UsageError(`--bwlimit must be a positive number of MiB/s, not "${v.bwlimit}"`);
    bwlimit = Math.round(mib * 1024 * 1024);
  }
  const specs = storageSpecs(v);
  if (specs.length > 1) throw new UsageError('backup takes one --fleecing-storage');

  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts === 1) {
      log('warn', 'cancelling: tearing down what the backup created (Ctrl-C again does not skip this)');
      controller.abort();
    }
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);

  let host: SshHostSession | null = null;
  try {
    host = await connectHost(args, log);
    const driver = await hostDriver(host);
    const storage = (await resolveStorages(driver, specs))[0] ?? null;
    const targetDir = await driver.resolveTarget(target);
    const vms = await driver.listVms();
    const vm = vms.find((x) => x.id === v.vm) ?? vms.find((x) => x.name === v.vm);
    if (!vm) throw new Error(`no VM "${v.vm}" on ${host.label} (found: ${vms.map((x) => x.id).join(', ') || 'none'})`);
    const platform = driver.platformFor(vm);
    if (vm.qmpSockets.length === 0) {
      // Stopped VM or template: nothing runs, nothing to fleece; copied straight from its volumes.
      if (!vm.proxmox || !platform?.lock) throw new Error(`VM ${vm.id} has no QMP monitor (not running?)`);
      await runOfflineBackup({
        host, vm, targetDir, emit: render.event, toolVersion: toolVersion(), journalDir: journalDir(), signal: controller.signal, lock: platform.lock,
      });
      return 0;
    }
    await runBackup({
      ...(platform ? { platform } : {}),
      host,
      vm,
      targetDir,
      fleecing: storage ? { storage, format } : null,
      bwlimit,
      signal: controller.signal,
      emit: render.event,
      toolVersion: toolVersion(),
      journalDir: journalDir(),
      ...(process.env.SHEAR_TEST_HOLD_AFTER_STEP ? { afterStep: holdAfterStep(process.env.SHEAR_TEST_HOLD_AFTER_STEP) } : {}),
    });
    return 0;
  } catch (err) {
    if (err instanceof BackupCancelledError || controller.signal.aborted) return 130;
    // runBackup already emitted its result; errors before it started need one.
    if (!render.sawResult()) render.event({ type: 'result', ok: false, error: explain(err), time: Date.now() });
    return 1;
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
    host?.close();
  }
}

/** `--archive`: required, and an absolute path on the host. */
function archiveArg(v: Values): string {
  if (!v.archive) throw new UsageError('--archive PATH is required (the archive folder on the host)');
  if (!v.archive.startsWith('/')) throw new UsageError(`--archive must be an absolute path on the host, not "${v.archive}"`);
  return v.archive;
}

async function commandVerify(v: Values, log: Logger): Promise<number> {
  const archive = archiveArg(v);
  const host = await connectHost(hostArgs(v), log);
  try {
    const report = await verifyArchive(host, archive, (d) => {
      if (v.json) process.stdout.write(`${JSON.stringify({ type: 'disk', ...d })}\n`);
      else process.stdout.write(`${d.device}\t${d.ok ? 'ok' : 'FAILED'}\t${d.file}${[...d.problems, ...d.notes].map((p) => `\n  ${p}`).join('')}\n`);
    });
    if (v.json) process.stdout.write(`${JSON.stringify({ type: 'verify', ok: report.ok, archive: report.archive, problems: report.problems, disks: report.disks.length })}\n`);
    else {
      for (const p of report.problems) process.stdout.write(`${p}\n`);
      process.stdout.write(report.ok ? `archive ${report.archive}: every disk verified\n` : `archive ${report.archive}: verification FAILED\n`);
    }
    return report.ok ? 0 : 1;
  } finally {
    host.close();
  }
}

async function commandRestore(v: Values, render: Renderer, log: Logger): Promise<number> {
  const archive = archiveArg(v);
  if (v.vm && v.to) throw new UsageError('--to (new images) and --vm (into an existing VM) exclude each other');
  if (!v.vm && !v.to) throw new UsageError('give --to STORAGE for new images, or --vm ID|NAME --disk DEVICE --yes to overwrite a stopped VM\'s disk');
  if (v.vm && !(v.disk?.length)) throw new UsageError('restoring into a VM needs --disk DEVICE for each disk to overwrite');
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  const host = await connectHost(hostArgs(v), log);
  try {
    const driver = await hostDriver(host);
    // The final result line comes last (--json: "last `result`"), after the restored images are listed.
    let success: RunEvent | null = null;
    const emit = (e: RunEvent) => {
      if (e.type === 'result' && e.ok) success = e;
      else render.event(e);
    };
    const common = { host, archiveDir: archive.replace(/\/+$/, ''), disks: v.disk ?? [], emit, signal: controller.signal };
    if (v.vm) {
      await restoreIntoVm({ ...common, driver, vm: v.vm, yes: v.yes ?? false });
      if (success) render.event(success);
      return 0;
    }
    const storage = (await resolveStorages(driver, [v.to as string]))[0] as Storage;
    const result = await restoreAsNewImages({ ...common, storage });
    for (const image of result.images) {
      if (v.json) process.stdout.write(`${JSON.stringify({ type: 'restored', ...image })}\n`);
      else process.stdout.write(`${image.device}\t${image.path}\t${image.format}\n`);
    }
    // Proxmox: the new volumes belong to the archived VMID; attaching them is the user's call.
    if (driver.kind === 'proxmox' && storage instanceof ProxmoxStorage) {
      for (const image of result.images) {
        const line = `qm set ${shellQuote(result.manifest.vm.id)} --${image.device} ${shellQuote(storage.volid(image.name))}`;
        if (v.json) process.stdout.write(`${JSON.stringify({ type: 'attach-command', device: image.device, command: line })}\n`);
        else process.stdout.write(`to attach: ${line}\n`);
      }
    }
    if (success) render.event(success);
    return 0;
  } catch (err) {
    if (!render.sawResult()) render.event({ type: 'result', ok: false, error: explain(err), time: Date.now() });
    return controller.signal.aborted ? 130 : 1;
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
    host.close();
  }
}

/**
 * Test hook for crash tests: after the named step, announce it on stderr and
 * wait forever, so a test can SIGKILL the CLI at exactly that point.
 */
function holdAfterStep(stepName: string): (step: string) => Promise<void> {
  return async (step) => {
    if (step !== stepName) return;
    process.stderr.write(`SHEAR_TEST_HOLDING ${step}\n`);
    await new Promise(() => {});
  };
}

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  const command = positionals[0];
  if (values.help || !command) {
    process.stdout.write(`${USAGE}\n`);
    return command || values.help ? 0 : 2;
  }
  const render = createRenderer({ json: values.json ?? false, tty: Boolean(process.stdout.isTTY), ...(command === 'restore' ? { command: 'restore' as const } : {}) });
  const log: Logger = (level, message) => render.event({ type: 'log', level, message, time: Date.now() });
  try {
    if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}"`);
    if (command === 'vms') return await commandVms(values, log);
    if (command === 'backup') return await commandBackup(values, render, log);
    if (command === 'leftovers') return await commandLeftovers(values, log);
    if (command === 'cleanup') return await commandCleanup(values, log);
    if (command === 'verify') return await commandVerify(values, log);
    if (command === 'restore') return await commandRestore(values, render, log);
    throw new UsageError(`unknown command "${command}"`);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\n\n${USAGE}\n`);
      return 2;
    }
    render.event({ type: 'log', level: 'error', message: explain(err), time: Date.now() });
    return 1;
  } finally {
    render.close();
  }
}

export type { RunEvent };
