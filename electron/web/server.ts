import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { channels, validateRequest, type ChannelName, type Envelope } from '../../shared/contract.js';
import type { ShearService } from '../engine/api.js';
import { toWireError } from '../engine/wire-error.js';

/**
 * Browser mode: the built renderer and the SAME service over a WebSocket, on
 * 127.0.0.1 only, guarded by a random token in the printed URL and by an Origin
 * check (another site's page in the same browser must not reach the API).
 */

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.ico': 'image/x-icon',
};
const CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export interface WebServer {
  url: string;
  port: number;
  token: string;
  close(): Promise<void>;
}

function tokenMatches(given: string | null, token: string): boolean {
  if (given === null) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

export async function startWebServer(o: { service: ShearService; rendererDir: string; port?: number; token?: string }): Promise<WebServer> {
  const token = o.token ?? randomBytes(24).toString('base64url');
  const root = normalize(o.rendererDir);
  let origin = '';

  const server: Server = createServer((req, res) => {
    void (async () => {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405).end();
        return;
      }
      let pathname: string;
      try {
        pathname = decodeURIComponent(new URL(req.url ?? '/', origin).pathname);
      } catch {
        // A malformed escape (`/%E0%A4%A`): a bad request, never a crash of the server that owns the runs.
        res.writeHead(400).end('bad request');
        return;
      }
      const rel = pathname === '/' ? 'index.html' : pathname.slice(1);
      const file = normalize(join(root, rel));
      if (!file.startsWith(root + sep)) {
        res.writeHead(403).end();
        return;
      }
      try {
        if (!(await stat(file)).isFile()) throw new Error('not a file');
        const body = await readFile(file);
        res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'content-security-policy': CSP, 'x-content-type-options': 'nosniff', 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : body);
      } catch {
        res.writeHead(404).end('not found');
      }
    })();
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: 4 * 1024 * 1024 });
  server.on('upgrade', (req: IncomingMessage, socket, head) => {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', origin);
    } catch {
      socket.destroy();
      return;
    }
    if (url.pathname !== '/api' || !tokenMatches(url.searchParams.get('token'), token) || req.headers.origin !== origin) {
      socket.write('HTTP/1.1 403 Forbidden\r\n\r\n');
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  const clients = new Set<WebSocket>();
  const unsubscribe = o.service.subscribe((event, payload) => {
    const text = JSON.stringify({ event, payload });
    for (const ws of clients) if (ws.readyState === ws.OPEN) ws.send(text);
  });

  wss.on('connection', (ws: WebSocket) => {
    clients.add(ws);
    ws.on('close', () => clients.delete(ws));
    ws.on('message', (data) => {
      void (async () => {
        let id: unknown = null;
        let reply: Envelope<unknown>;
        try {
          const msg = JSON.parse(String(data)) as { id?: unknown; channel?: unknown; request?: unknown };
          id = msg.id;
          if (typeof msg.channel !== 'string' || !(msg.channel in channels)) throw new Error(`unknown channel ${String(msg.channel)}`);
          const name = msg.channel as ChannelName;
          reply = { ok: true, value: await o.service.handle(name, validateRequest(name, msg.request)) };
        } catch (err) {
          reply = { ok: false, error: toWireError(err) };
        }
        if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ id, ...reply }));
      })();
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  origin = `http://127.0.0.1:${port}`;
  return {
    url: `${origin}/?token=${token}`,
    port,
    token,
    close: async () => {
      unsubscribe();
      for (const ws of clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
