import { describe, expect, it } from 'vitest';
import { createAppStore } from '../../renderer/store/index';
import { groupLeftovers, orphanedIds, parseStorageList } from '../../renderer/store/leftovers';
import { fakeApi, leftover } from './fake-api';

const ITEMS = [leftover('a', 'orphaned'), leftover('b', 'unknown'), leftover('c', 'in-use'), leftover('d', 'orphaned', { urgent: true, kind: 'filter' })];

describe('leftovers (pure)', () => {
  it('splits storages on commas and new lines and names a bad one', () => {
    expect(parseStorageList(' dir:/a, lvmthin:pve/data\nzfs:rpool/fleece\n\n dir:/a ')).toEqual({ storages: ['dir:/a', 'lvmthin:pve/data', 'zfs:rpool/fleece'], error: null });
    expect(parseStorageList('dir:/a, /b').error).toMatch(/"\/b" is not a storage/);
    // Proxmox storages by id, as the wizard and the CLI take them.
    expect(parseStorageList('local-lvm, pve:lvmthin:fast')).toEqual({ storages: ['local-lvm', 'pve:lvmthin:fast'], error: null });
    expect(parseStorageList('')).toEqual({ storages: [], error: null });
  });

  it('groups by class, urgent first, and picks the orphaned ids', () => {
    const g = groupLeftovers(ITEMS);
    expect(g.orphaned.map((i) => i.id)).toEqual(['d', 'a']);
    expect(g.unknown.map((i) => i.id)).toEqual(['b']);
    expect(g['in-use'].map((i) => i.id)).toEqual(['c']);
    expect(orphanedIds(ITEMS)).toEqual(['a', 'd']);
  });
});

describe('leftovers actions', () => {
  const setup = () => {
    const fake = fakeApi({
      'leftovers:scan': () => ITEMS,
      'leftovers:clean': ({ ids }) => ({ removed: ids.map((id) => ({ id, description: `item ${id}` })), skipped: [], failed: [] }),
    });
    const store = createAppStore(fake.api);
    return { fake, s: () => store.getState() };
  };

  it('scans what was asked and cleans exactly the orphaned items of that scan', async () => {
    const { fake, s } = setup();
    s().setLeftoversHost('h1');
    s().setLeftoversStorages('dir:/var/lib/shear-fleece');
    await s().scanLeftovers();
    s().setLeftoversStorages('dir:/changed-after-scan');
    await s().cleanOrphaned();
    expect(fake.requestsTo('leftovers:clean')).toEqual([{ hostId: 'h1', storages: ['dir:/var/lib/shear-fleece'], ids: ['a', 'd'], includeUnknown: [] }]);
    expect(s().leftovers.report?.removed.map((r) => r.id)).toEqual(['a', 'd']);
    expect(fake.requestsTo('leftovers:scan')).toHaveLength(2); // rescanned after cleaning
  });

  it('removes an unknown item only after confirmation, naming it in includeUnknown', async () => {
    const { fake, s } = setup();
    s().setLeftoversHost('h1');
    await s().scanLeftovers();
    await s().confirmRemoveUnknown('b');
    expect(fake.requestsTo('leftovers:clean')).toEqual([]);
    s().askRemoveUnknown('b');
    await s().confirmRemoveUnknown('b');
    expect(fake.requestsTo('leftovers:clean')).toEqual([{ hostId: 'h1', storages: [], ids: ['b'], includeUnknown: ['b'] }]);
  });

  it('refuses to scan without a host or with a bad storage', async () => {
    const { fake, s } = setup();
    await s().scanLeftovers();
    expect(s().leftovers.inputError).toMatch(/host/);
    s().setLeftoversHost('h1');
    s().setLeftoversStorages('nfs:/x');
    await s().scanLeftovers();
    expect(s().leftovers.inputError).toMatch(/not a storage/);
    expect(fake.requestsTo('leftovers:scan')).toEqual([]);
  });
});
