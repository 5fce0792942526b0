/**
 * The IPC contract between the main process and the renderer: every invoke
 * channel is `domain:action` with its request and response types and a runtime
 * check of the request, so no payload reaches a handler unchecked.
 */

export interface AppInfo {
  name: string;
  version: string;
  platform: string;
}

export interface ContractChannel<Req, Res> {
  /** Rejects anything that is not a valid request, with a message saying why. */
  validate(input: unknown): Req;
  /** Type carrier only. */
  readonly response?: Res;
}

function noArguments(input: unknown): undefined {
  if (input !== undefined && input !== null) throw new Error('this call takes no arguments');
  return undefined;
}

export const channels = {
  'app:info': { validate: noArguments } as ContractChannel<undefined, AppInfo>,
} as const;

export type ChannelName = keyof typeof channels;
export type RequestOf<C extends ChannelName> = (typeof channels)[C] extends ContractChannel<infer R, unknown> ? R : never;
export type ResponseOf<C extends ChannelName> = (typeof channels)[C] extends ContractChannel<unknown, infer R> ? R : never;

/** How a handler's failure crosses IPC: Electron would otherwise flatten it to a string. */
export type Envelope<T> = { ok: true; value: T } | { ok: false; error: { name: string; message: string } };

/** The API the renderer sees as `window.shear`. */
export interface ShearApi {
  app: { info(): Promise<AppInfo> };
}
