import type { ThrottleFilter } from '../../../shared/model.js';
import type { QmpClient } from './client.js';
import type { NamedBlockNode } from './types.js';

/**
 * QEMU's block graph as `x-debug-query-block-graph` gives it: the only query that names the
 * child a filter node sits on (query-named-block-nodes describes children by their options,
 * not their node names). Stable in shape in QEMU 7.2 and 10.0.
 */
export interface BlockGraph {
  nodes: Array<{ id: number; name: string; type?: string }>;
  edges: Array<{ parent: number; child: number; name: string }>;
}

export async function blockGraph(qmp: QmpClient): Promise<BlockGraph> {
  return (await qmp.execute('x-debug-query-block-graph')) as BlockGraph;
}

/** The node a filter's `file` edge leads to (pure). */
export function fileChildOf(graph: BlockGraph, node: string): string | undefined {
  const parent = graph.nodes.find((n) => n.name === node);
  const edge = parent && graph.edges.find((e) => e.parent === parent.id && e.name === 'file');
  const child = edge && graph.nodes.find((n) => n.id === edge.child);
  return child?.name || undefined;
}

/** Named nodes whose `file` edge leads to `node` (pure): a throttle filter over a copy-before-write one. */
export function fileParentsOf(graph: BlockGraph, node: string): string[] {
  const child = graph.nodes.find((n) => n.name === node);
  if (!child) return [];
  return graph.edges
    .filter((e) => e.child === child.id && e.name === 'file')
    .map((e) => graph.nodes.find((n) => n.id === e.parent)?.name ?? '')
    .filter((name) => name !== '');
}

/**
 * The throttle group of a throttle node (pure): query-named-block-nodes describes a filter by
 * its options, `json:{"throttle-group": "…", "driver": "throttle", …}`.
 */
export function throttleGroupOf(nodes: readonly NamedBlockNode[], node: string): string | undefined {
  const n = nodes.find((x) => x['node-name'] === node);
  if (n?.drv !== 'throttle' || !n.file.startsWith('json:')) return undefined;
  try {
    const group = (JSON.parse(n.file.slice('json:'.length)) as { 'throttle-group'?: unknown })['throttle-group'];
    return typeof group === 'string' && group !== '' ? group : undefined;
  } catch {
    return undefined;
  }
}

/** What re-pointing a throttle node must give again (pure), or undefined if it is none. */
export function throttleFilterOf(nodes: readonly NamedBlockNode[], node: string): ThrottleFilter | undefined {
  const group = throttleGroupOf(nodes, node);
  if (!group) return undefined;
  return { node, group, detectZeroes: nodes.find((n) => n['node-name'] === node)?.detect_zeroes ?? 'off' };
}

/**
 * Points a throttle filter at another child, in place (`blockdev-reopen`): the device keeps
 * its node, so its I/O limits stay where they are. A reopen resets the options it is not
 * given: `detect-zeroes` is given again; the flags (read-only, cache, discard) carry over
 * (checked on QEMU 7.2 and 10.0).
 */
export async function setThrottleChild(qmp: QmpClient, throttle: ThrottleFilter, child: string): Promise<void> {
  await qmp.execute('blockdev-reopen', {
    options: [{ driver: 'throttle', 'node-name': throttle.node, 'throttle-group': throttle.group, 'detect-zeroes': throttle.detectZeroes, file: child }],
  });
}
