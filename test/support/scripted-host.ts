import { silentLogger, type Logger } from '../../electron/engine/log.js';
import type { ExecResult } from '../../electron/engine/ssh/exec.js';
import type { StorageHost } from '../../electron/engine/storage/storage.js';

/**
 * A host whose commands are answered by `respond`, recording every argv: for
 * testing how storage backends build commands and read recorded tool output
 * where the tool (lvm, zfs) cannot run on this machine.
 */
export function scriptedHost(respond: (argv: readonly string[]) => Partial<ExecResult>, log: Logger = silentLogger): StorageHost & { calls: string[][] } {
  const calls: string[][] = [];
  const exec = async (argv: readonly string[]): Promise<ExecResult> => {
    calls.push([...argv]);
    return { stdout: '', stderr: '', code: 0, signal: null, ...respond(argv) };
  };
  return { calls, label: 'root@host', log, exec };
}
