// Hijacked connections (attach, exec start): after a "101 UPGRADED" (or 200 for clients that
// did not ask to upgrade) the HTTP connection becomes a raw bidirectional byte stream.
import type { Duplex } from 'node:stream';
import type { Ctx } from './router.js';

export const RAW_STREAM = 'application/vnd.docker.raw-stream';
export const MULTIPLEXED_STREAM = 'application/vnd.docker.multiplexed-stream';

/** Take over the connection. Returns the raw duplex stream. */
export function hijack(ctx: Ctx, contentType: string): Duplex {
  if (ctx.upgrade) {
    const { socket, head } = ctx.upgrade;
    socket.write(`HTTP/1.1 101 UPGRADED\r\nContent-Type: ${contentType}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`);
    if (head.length) socket.unshift(head);
    return socket;
  }
  // A client that did not ask to upgrade: answer 200 and stream on the same connection.
  const socket = ctx.req.socket;
  ctx.res.detachSocket(socket);
  socket.write(`HTTP/1.1 200 OK\r\nContent-Type: ${contentType}\r\nConnection: close\r\n\r\n`);
  return socket;
}

/** Docker's stdcopy header: [stream, 0, 0, 0, size uint32 BE]. */
export function frame(stream: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h[0] = stream;
  h.writeUInt32BE(payload.length, 4);
  return Buffer.concat([h, payload]);
}
