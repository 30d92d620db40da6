import type { TemplatedApp, WebSocket as UwsSocket } from 'uWebSockets.js';
import WebSocket from 'ws';
import { type HttpLayer, upgrader, WS_COMMON } from '../http.ts';
import { MAX_FRAME_BYTES } from './frames.ts';
import { type LinkHost, PeerLink, type Transport } from './link.ts';

/**
 * The sockets under peer links: links other relays dial to us (uWS, on
 * /v1/peer) and links we dial (`ws`, since uWS has no client). Both end in a
 * PeerLink over a Transport; everything above the socket is the mesh's.
 */

/** What the socket layer asks of the mesh. */
export interface PeerSockets {
  readonly host: LinkHost;
  /** Whether one more inbound link may open now (room, not shutting down). */
  roomForInbound(): boolean;
  /** A link object exists for a new socket (before its handshake). */
  opened(link: PeerLink): void;
  /** The socket's send buffer emptied. */
  drained(link: PeerLink): void;
}

/** Ping interval and silence limit for links we dialed (uWS pings the ones it accepted). */
const CLIENT_PING_MS = 15_000;
const CLIENT_IDLE_MS = 60_000;

type UwsData = { link: PeerLink | undefined; dead: boolean };

/** Accepts peer links on /v1/peer. */
export function acceptPeers(app: TemplatedApp, http: HttpLayer, sockets: PeerSockets): void {
  app.ws<UwsData>('/v1/peer', {
    maxPayloadLength: MAX_FRAME_BYTES,
    idleTimeout: 60,
    maxBackpressure: 64 * 1024 * 1024,
    ...WS_COMMON,
    upgrade: (res, req, context) => {
      const upgrade = upgrader(req);
      if (http.draining || !sockets.roomForInbound()) {
        http.count('peer', 503);
        res.cork(() => {
          res.writeStatus('503 Service Unavailable').writeHeader('Content-Type', 'application/json').writeHeader('Retry-After', '30');
          res.end(JSON.stringify({ error: { code: 'overloaded', message: 'no room for another peer link' } }), true);
        });
        return;
      }
      http.count('peer', 101);
      upgrade<UwsData>(res, { link: undefined, dead: false }, context);
    },
    open: (ws) => {
      const data = ws.getUserData();
      // uWS throws on any use of a closed socket: `dead` guards every call.
      const transport: Transport = {
        send: (frame) => !data.dead && ws.send(frame, typeof frame !== 'string', false) !== 2,
        buffered: () => (data.dead ? 0 : ws.getBufferedAmount()),
        close: (code, reason) => {
          if (data.dead) return;
          data.dead = true;
          ws.end(code, reason.slice(0, 100));
        },
      };
      const link = (data.link = new PeerLink(sockets.host, transport, 'in', undefined, undefined));
      sockets.opened(link);
      link.start();
    },
    message: (ws: UwsSocket<UwsData>, data, isBinary) => {
      const link = ws.getUserData().link;
      if (!link) return;
      // uWS reuses `data` after this returns: a binary frame is copied out.
      if (isBinary) link.receive(Buffer.from(new Uint8Array(data)), data.byteLength);
      else link.receive(Buffer.from(data).toString('utf8'), data.byteLength);
    },
    drain: (ws) => {
      const link = ws.getUserData().link;
      if (link) sockets.drained(link);
    },
    close: (ws, code, message) => {
      const data = ws.getUserData();
      data.dead = true;
      data.link?.closedByPeer(code, Buffer.from(message).toString('utf8'));
    },
  });
}

/** Dials a relay's /v1/peer; the link starts its handshake once the socket opens. */
export function dialPeer(url: string, expectedId: string | undefined, sockets: PeerSockets): PeerLink {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/v1/peer`, { maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false, handshakeTimeout: 5000 });
  let lastSeen = performance.now();
  const transport: Transport = {
    send: (frame) => {
      if (ws.readyState !== WebSocket.OPEN) return false;
      ws.send(frame, { binary: typeof frame !== 'string' });
      return true;
    },
    buffered: () => ws.bufferedAmount,
    close: (code, reason) => {
      try {
        ws.close(code, reason.slice(0, 100));
      } catch {
        ws.terminate();
      }
      setTimeout(() => ws.terminate(), 2000).unref();
    },
  };
  const link = new PeerLink(sockets.host, transport, 'out', url, expectedId);
  sockets.opened(link);
  const ping = setInterval(() => {
    if (performance.now() - lastSeen > CLIENT_IDLE_MS) ws.terminate();
    else if (ws.readyState === WebSocket.OPEN) ws.ping();
  }, CLIENT_PING_MS);
  ping.unref();
  ws.on('open', () => link.start());
  ws.on('message', (data, isBinary) => {
    lastSeen = performance.now();
    const buf = data as Buffer;
    link.receive(isBinary ? buf : buf.toString('utf8'), buf.length);
  });
  ws.on('pong', () => (lastSeen = performance.now()));
  ws.on('ping', () => (lastSeen = performance.now()));
  ws.on('error', () => {}); // 'close' follows with the details
  ws.on('close', (code, reason) => {
    clearInterval(ping);
    link.closedByPeer(code, reason.toString());
  });
  return link;
}
