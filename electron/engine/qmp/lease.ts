import type { QmpClient } from './client.js';
import { QmpClient as Client } from './client.js';
import type { QmpTransport } from './session.js';

/**
 * One QMP session shared by a burst of commands (a teardown of many nodes),
 * opened on first use, reopened if it broke, and closed when the burst ends —
 * still a short session, just not one per command.
 */
export class QmpLease {
  private client: QmpClient | null = null;

  constructor(
    private readonly transport: QmpTransport,
    private readonly socketPath: string,
  ) {}

  async get(): Promise<QmpClient> {
    if (this.client && !this.client.closed) return this.client;
    // A session QEMU or the link ended: release its channel before opening the next one.
    await this.client?.close().catch(() => undefined);
    const stream = await this.transport.openQmpStream(this.socketPath);
    this.client = await Client.connect(stream, { label: `${this.transport.label}:${this.socketPath}`, log: this.transport.log });
    return this.client;
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = null;
    await c?.close();
  }
}
