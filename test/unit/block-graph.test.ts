import { describe, expect, it } from 'vitest';
import { belowThrottle } from '../../electron/engine/hosts/vm-inspect.js';
import { fileChildOf, fileParentsOf, throttleGroupOf, type BlockGraph } from '../../electron/engine/qmp/block-graph.js';
import type { NamedBlockNode } from '../../electron/engine/qmp/types.js';
import type { VmDisk } from '../../shared/model.js';

const MiB = 1024 * 1024;
// Shaped as QEMU 7.2 and 10.0 answer for `-blockdev throttle,throttle-group=tg-vd0,file=vd0-fmt` (trimmed to the fields read).
const NODES: NamedBlockNode[] = [
  { 'node-name': 'vd0-throttle', drv: 'throttle', ro: false, detect_zeroes: 'unmap', file: 'json:{"throttle-group": "tg-vd0", "driver": "throttle", "file": {"driver": "qcow2", "file": {"driver": "file", "filename": "/vm/vd0.qcow2"}}}', image: { filename: 'json:{}', format: 'throttle', 'virtual-size': 24 * MiB } },
  { 'node-name': 'vd0-fmt', drv: 'qcow2', ro: false, detect_zeroes: 'off', file: '/vm/vd0.qcow2', image: { filename: '/vm/vd0.qcow2', format: 'qcow2', 'virtual-size': 24 * MiB } },
  { 'node-name': 'vd0-file', drv: 'file', ro: false, file: '/vm/vd0.qcow2', image: { filename: '/vm/vd0.qcow2', format: 'file', 'virtual-size': 24 * MiB } },
];
const GRAPH: BlockGraph = {
  nodes: [{ id: 1, name: 'vd0-throttle' }, { id: 2, name: 'vd0-fmt' }, { id: 3, name: 'vd0-file' }, { id: 4, name: '' }],
  edges: [{ parent: 1, child: 2, name: 'file' }, { parent: 2, child: 3, name: 'file' }, { parent: 4, child: 1, name: 'root' }],
};
const DISK: VmDisk = { device: 'vd0', qomPath: '/machine/peripheral/vd0/virtio-backend', blockBackend: '', nodeName: 'vd0-throttle', format: 'throttle', sizeBytes: 24 * MiB, file: NODES[0]!.file, backingFile: null, role: 'disk' };

describe('block graph reading', () => {
  it('follows file edges both ways and reads a throttle node\'s group', () => {
    expect(fileChildOf(GRAPH, 'vd0-throttle')).toBe('vd0-fmt');
    expect(fileChildOf(GRAPH, 'vd0-file')).toBeUndefined();
    expect(fileParentsOf(GRAPH, 'vd0-fmt')).toEqual(['vd0-throttle']);
    expect(throttleGroupOf(NODES, 'vd0-throttle')).toBe('tg-vd0');
    expect(throttleGroupOf(NODES, 'vd0-fmt')).toBeUndefined();
  });

  it('sees a throttled disk from the node below the throttle, and leaves it be when the graph does not say', () => {
    expect(belowThrottle(DISK, NODES, GRAPH)).toEqual({
      ...DISK, nodeName: 'vd0-fmt', format: 'qcow2', file: '/vm/vd0.qcow2', backingFile: null,
      throttle: { node: 'vd0-throttle', group: 'tg-vd0', detectZeroes: 'unmap' },
    });
    expect(belowThrottle(DISK, NODES, { nodes: GRAPH.nodes, edges: [] })).toBe(DISK);
    expect(belowThrottle(DISK, NODES.map((n) => (n['node-name'] === 'vd0-fmt' ? { ...n, image: { ...n.image, 'virtual-size': MiB } } : n)), GRAPH)).toBe(DISK);
  });
});
