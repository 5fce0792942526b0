import { ApiError, type EventMap, type EventName, type ShearApi, type WireError } from '../shared/contract';

type Message =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: WireError }
  | { event: EventName; payload: unknown };

/**
 * Browser mode: the same API over a WebSocket to the server that started this
 * page. The token from the page URL authenticates every connection.
 */
export function connectWebSocketApi(location: Location): ShearApi {
  const token = new URLSearchParams(location.search).get('token') ?? '';
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api?token=${encodeURIComponent(token)}`;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const listeners = new Map<EventName, Set<(payload: never) => void>>();
  let nextId = 1;
  let socket: WebSocket | null = null;
  let opening: Promise<WebSocket> | null = null;
  let lost = false;

  const open = (): Promise<WebSocket> => {
    if (socket?.readyState === WebSocket.OPEN) return Promise.resolve(socket);
    opening ??= new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.onopen = () => {
        socket = ws;
        opening = null;
        resolve(ws);
        // Back after a loss: whatever happened meanwhile (a run ended, the server restarted) was not heard.
        if (lost) {
          lost = false;
          for (const l of listeners.get('api:reconnected') ?? []) l(null as never);
        }
      };
      ws.onerror = () => {
        opening = null;
        reject(new Error('cannot reach the Shear server'));
      };
      ws.onclose = () => {
        socket = null;
        lost = true;
        for (const [, p] of pending) p.reject(new Error('connection to the Shear server lost'));
        pending.clear();
        // Reconnect so events keep flowing after a server restart.
        setTimeout(() => void open().catch(() => undefined), 1_000);
      };
      ws.onmessage = (m: MessageEvent<string>) => {
        const msg = JSON.parse(m.data) as Message;
        if ('event' in msg) {
          for (const l of listeners.get(msg.event) ?? []) l(msg.payload as never);
          return;
        }
        const p = pending.get(msg.id);
        if (!p) return;
        pending.delete(msg.id);
        if (msg.ok) p.resolve(msg.value);
        else p.reject(new ApiError(msg.error));
      };
    });
    return opening;
  };
  void open().catch(() => undefined);

  return {
    invoke: async (channel, request) => {
      const ws = await open();
      const id = nextId++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        ws.send(JSON.stringify({ id, channel, request }));
      });
    },
    on: <E extends EventName>(event: E, listener: (payload: EventMap[E]) => void) => {
      const set = listeners.get(event) ?? new Set();
      set.add(listener as (payload: never) => void);
      listeners.set(event, set);
      return () => void set.delete(listener as (payload: never) => void);
    },
  };
}
