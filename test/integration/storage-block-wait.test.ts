/**
 * The bounded wait for a block device that lvmthin and zfs run after creating a volume
 * (udev makes /dev/<vg>/<lv> and /dev/zvol/... a moment later). Run for real through the
 * lab sshd; the "devices" are block special files made with mknod in a temp dir.
 */
import { execFileSync } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SshHostSession } from '../../electron/engine/hosts/host-session.js';
import { BLOCK_DEVICE_MISSING_EXIT, waitForBlockDeviceArgv } from '../../electron/engine/storage/common.js';
import { startSshd, type LabSshd } from '../lab/sshd.js';
import { requireTool, tempDir } from '../lab/tools.js';
import { connectToLab } from '../support/ssh-session.js';

let sshd: LabSshd;
let host: SshHostSession;
let dir: string;

beforeAll(async () => {
  sshd = await startSshd();
  host = new SshHostSession((await connectToLab(sshd)).conn, () => connectToLab(sshd).then((r) => r.conn));
  dir = await tempDir('shear-blockwait-');
});
afterAll(async () => {
  host?.close();
  await sshd?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A block special file (loop major 7): `[ -b ]` is true for it, nothing ever opens it. */
function mknodBlock(path: string): void {
  execFileSync(requireTool('mknod', 'coreutils'), [path, 'b', '7', '200']);
}

describe('waiting for a block device on the host', () => {
  it('runs the command at once when the device is there, arguments intact', async () => {
    const dev = join(dir, "vg it's");
    mknodBlock(dev);
    const r = await host.execChecked(waitForBlockDeviceArgv(dev, ['printf', '%s|', 'a b', "it's", '$(id)']));
    expect(r.stdout).toBe("a b|it's|$(id)|");
  });

  it('gives up after the given number of tries with exit 18 and a message', async () => {
    const started = Date.now();
    const r = await host.exec(waitForBlockDeviceArgv(join(dir, 'never'), ['echo', 'ran'], 5));
    expect(r.code).toBe(BLOCK_DEVICE_MISSING_EXIT);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`no block device ${join(dir, 'never')} appeared\n`);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('does not take a regular file for a device', async () => {
    execFileSync('touch', [join(dir, 'plain')]);
    const r = await host.exec(waitForBlockDeviceArgv(join(dir, 'plain'), ['echo', 'ran'], 2));
    expect(r.code).toBe(BLOCK_DEVICE_MISSING_EXIT);
  });

  it('waits for a device that appears later (as udev makes it)', async () => {
    const dev = join(dir, 'late');
    let settled = false;
    const pending = host.exec(waitForBlockDeviceArgv(dev, ['echo', 'ran'], 100)).finally(() => {
      settled = true;
    });
    await new Promise((r) => setTimeout(r, 600));
    expect(settled).toBe(false);
    mknodBlock(dev);
    const r = await pending;
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('ran\n');
  });
});
