/**
 * vitest glue: starts a lab host in `beforeAll` and stops it in `afterAll`, which vitest
 * runs also after failed tests (and after a failed `beforeAll`).
 *
 *   const lab = useLabHost({ vms: [{ name: 'vm1', disks: [...] }] });
 *   it('...', async () => { const vm = lab().vm('vm1'); ... });
 */
import { afterAll, beforeAll } from 'vitest';
import { startLabHost, type LabHost, type LabHostOptions } from './lab-host.js';

export function useLabHost(options: LabHostOptions): () => LabHost {
  let lab: LabHost | undefined;
  beforeAll(async () => {
    lab = await startLabHost(options);
  });
  afterAll(async () => {
    await lab?.stop();
  });
  return () => {
    if (!lab) throw new Error('lab host not started: its beforeAll failed or has not run yet');
    return lab;
  };
}
