import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLabHost, type LabHost } from '../lab/lab-host.js';
import { expectPristine, labFolder, MiB, snapshotState } from '../support/backup-harness.js';
import { launchChromium } from '../support/browser.js';
import { startWebProcess, type WebProcess } from '../support/web-process.js';

/**
 * The product as a user meets it: the browser-mode server as its own process,
 * Debian's Chromium driven by Playwright, the lab host behind SSH. Screenshots
 * of every screen land in test-results/e2e/.
 */
const ROOT = join(import.meta.dirname, '..', '..');
const SHOTS = join(ROOT, 'test-results', 'e2e');
let lab: LabHost;
let web: WebProcess;
let browser: Browser;
let page: Page;
let dataDir: string;
let rendererDir: string;
let journalDir: string;
let fleece: string;
let target: string;

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  lab = await startLabHost({
    vms: [{ name: 'two', disks: [{ id: 'vd0', bus: 'virtio', format: 'qcow2', sizeBytes: 32 * MiB }, { id: 'scsi0', bus: 'scsi', format: 'raw', sizeBytes: 32 * MiB + 512 }] }],
  });
  dataDir = labFolder(lab, 'app-data');
  journalDir = labFolder(lab, 'journal');
  fleece = labFolder(lab, 'fleece');
  target = labFolder(lab, 'target');
  // Build the renderer exactly as `npm run web` does, into the lab folder.
  rendererDir = join(lab.dir, 'renderer');
  execFileSync(process.execPath, [join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--logLevel', 'error', '--outDir', rendererDir], { cwd: ROOT });
  web = await startWebProcess({ dataDir, rendererDir, env: { SHEAR_JOURNAL_DIR: journalDir } });
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(web.url);
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await web?.kill('SIGKILL');
  await lab?.stop();
});

const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
const nav = (name: string) => page.getByRole('navigation').getByRole('button', { name, exact: true }).click();

async function wizardTo(bandwidth?: string): Promise<void> {
  await nav('Backup');
  await page.getByLabel('Host', { exact: true }).selectOption({ label: 'lab' });
  await page.getByRole('button', { name: 'Next', exact: true }).click();
  const vm = page.getByRole('checkbox', { name: 'two' });
  await vm.check();
  await shot('wizard-vms');
  await page.getByRole('button', { name: 'Next', exact: true }).click();
  await page.getByLabel('Fleecing storage').fill(`dir:${fleece}`);
  await page.getByRole('button', { name: 'Check', exact: true }).click();
  await expect.poll(() => page.getByRole('status', { name: 'Storage check' }).isVisible()).toBe(true);
  await shot('wizard-fleecing');
  await page.getByRole('button', { name: 'Next', exact: true }).click();
  await page.getByLabel('Backup target').fill(`dir:${target}`);
  if (bandwidth) await page.getByLabel('Bandwidth limit (MiB/s)').fill(bandwidth);
  await page.getByRole('button', { name: 'Next', exact: true }).click();
}

describe('browser mode end to end', () => {
  it('adds the host and trusts its key after seeing the fingerprint', async () => {
    await shot('hosts-empty');
    await page.getByRole('button', { name: 'Add host', exact: true }).click();
    await page.getByLabel('Name', { exact: true }).fill('lab');
    await page.getByLabel('Address').fill(lab.sshd.host);
    await page.getByLabel('Port').fill(String(lab.sshd.port));
    await page.getByLabel('User').fill('root');
    await page.getByLabel('Authentication').selectOption('key');
    await page.getByLabel('Private key file').fill(lab.sshd.clientKeyPath);
    await shot('host-form');
    await page.getByRole('button', { name: 'Save host' }).click();
    await page.getByRole('row', { name: /lab/ }).getByRole('button', { name: 'Test connection' }).click();
    const dialog = page.getByRole('dialog', { name: 'New host key' });
    await dialog.waitFor();
    const expected = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${lab.sshd.hostKeyPath}.pub`]).toString().split(' ')[1];
    expect(await dialog.getByTestId('hostkey-fingerprint').textContent()).toContain(expected);
    await shot('host-key-prompt');
    await dialog.getByRole('button', { name: 'Trust' }).click();
    await expect.poll(() => page.getByRole('row', { name: /lab/ }).getByRole('status').textContent(), { timeout: 30_000 }).toMatch(/Connected: 1 VM/);
    await shot('hosts');
  });

  it('runs a fleeced backup of a two-disk VM through the wizard and shows it in History', async () => {
    await wizardTo();
    await page.getByTestId('planned-image-name').first().waitFor();
    const names = await page.getByTestId('planned-image-name').allTextContents();
    expect(names.map((n) => n.trim())).toEqual(['vm-two-fleece-0.qcow2', 'vm-two-fleece-1.qcow2']);
    await shot('wizard-review');
    await page.getByRole('button', { name: 'Start backup', exact: true }).click();
    const state = page.getByTestId('run-state');
    await expect.poll(() => state.getAttribute('data-state'), { timeout: 90_000 }).toBe('succeeded');
    for (const disk of ['two/vd0', 'two/scsi0']) {
      expect(await page.getByRole('progressbar', { name: disk }).getAttribute('aria-valuenow')).toBe('100');
    }
    const log = page.getByRole('list', { name: 'Run log' }).getByRole('listitem');
    expect(await log.count()).toBeGreaterThan(5);
    expect((await log.allTextContents()).join('\n')).toMatch(/paused for \d+ ms/);
    await shot('run-succeeded');
    await nav('History');
    const rows = page.getByRole('table', { name: 'Backup history' }).locator('tbody tr');
    await expect.poll(() => rows.count()).toBe(1);
    expect(await rows.first().textContent()).toMatch(/Succeeded/);
    expect(await rows.first().textContent()).toContain(`${target}/two/`);
    await shot('history');
  });

  it('verifies the archive and restores it as new images from History', async () => {
    await nav('History');
    const backupRow = page.getByRole('table', { name: 'Backup history' }).locator('tbody tr').first();
    const archive = ((await backupRow.locator('ul.archives li').first().textContent()) ?? '').replace(/Verify.*$/, '').trim();
    expect(archive.startsWith(`${target}/two/`)).toBe(true);
    await page.getByRole('button', { name: `Verify ${archive}`, exact: true }).click();
    const state = page.getByTestId('run-state');
    await expect.poll(() => state.getAttribute('data-state'), { timeout: 60_000 }).toBe('succeeded');
    const log = page.getByRole('list', { name: 'Run log' }).getByRole('listitem');
    expect((await log.allTextContents()).join('\n')).toMatch(/every disk of .* verified/);
    await shot('verify-succeeded');

    const restoreDir = labFolder(lab, 'restored');
    await nav('History');
    await page.getByRole('button', { name: `Restore ${archive}`, exact: true }).click();
    const panel = page.getByRole('region', { name: `Restore ${archive}` });
    await panel.getByLabel('Storage', { exact: true }).fill(`dir:${restoreDir}`);
    await shot('restore-form');
    await panel.getByRole('button', { name: 'Start restore' }).click();
    await expect.poll(() => state.getAttribute('data-state'), { timeout: 60_000 }).toBe('succeeded');
    expect((await log.allTextContents()).join('\n')).toMatch(/vd0: restored content verified/);
    await shot('restore-succeeded');
    const images = readdirSync(restoreDir).filter((f) => f.endsWith('.qcow2')).sort();
    expect(images).toHaveLength(2);
    for (const device of ['scsi0', 'vd0']) {
      const restored = images.find((f) => f.endsWith(`-${device}.qcow2`)) as string;
      execFileSync('qemu-img', ['compare', '-q', '-f', 'qcow2', '-F', 'qcow2', join(archive, `${device}.qcow2`), join(restoreDir, restored)]);
    }
  });

  it('after the server is SIGKILLed mid-backup, "Clean up" removes what the dead run left', async () => {
    const vm = lab.vm('two');
    const before = await snapshotState(vm);
    await wizardTo('1');
    await page.getByRole('button', { name: 'Start backup', exact: true }).click();
    await expect.poll(async () => Number(await page.getByRole('progressbar', { name: 'two/vd0' }).getAttribute('aria-valuenow')), { timeout: 60_000 }).toBeGreaterThan(0);
    await shot('run-in-progress');
    await web.kill('SIGKILL');

    web = await startWebProcess({ dataDir, rendererDir, env: { SHEAR_JOURNAL_DIR: journalDir } });
    await page.goto(web.url);
    await nav('Leftovers');
    await page.getByLabel('Host', { exact: true }).selectOption({ label: 'lab' });
    await page.getByLabel('Fleecing storages').fill(`dir:${fleece}`);
    const orphaned = page.getByRole('region', { name: 'Orphaned leftovers' }).getByRole('listitem');
    // The dead run's lock frees as soon as sshd sees the connection gone; scan until it does.
    await expect.poll(async () => {
      await page.getByRole('button', { name: 'Scan', exact: true }).click();
      await page.waitForTimeout(500);
      return orphaned.count();
    }, { timeout: 30_000 }).toBeGreaterThan(5);
    const kinds = await orphaned.evaluateAll((items) => items.map((i) => (i.getAttribute('data-leftover-id') ?? '').split(':')[0]));
    expect(new Set(kinds)).toEqual(new Set(['filter', 'job', 'node', 'image', 'partial-archive', 'journal']));
    await shot('leftovers');
    await page.getByRole('button', { name: 'Clean up', exact: true }).click();
    const report = page.getByRole('region', { name: 'Cleanup report' });
    await report.waitFor({ timeout: 60_000 });
    expect(await report.getByRole('list', { name: 'Removed' }).getByRole('listitem').count()).toBe(kinds.length);
    expect(await report.getByRole('list', { name: 'Failed' }).getByRole('listitem').count()).toBe(0);
    await shot('cleanup-report');
    await expect.poll(() => orphaned.count(), { timeout: 30_000 }).toBe(0);
    await expectPristine(vm, before);
  });
});
