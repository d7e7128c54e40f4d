// The HTTP side of the Docker Engine API: one router served on every -H address
// (unix sockets, mode 0660; tcp:// for those who ask for it).
import * as http from 'node:http';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Router } from './router.js';
import { invalid } from '../lib/errors.js';
import { log } from '../lib/log.js';

export class ApiServer {
  readonly router = new Router();
  private servers: http.Server[] = [];

  private makeServer(): http.Server {
    const server = http.createServer({ keepAlive: true }, (req, res) => {
      void this.router.dispatch(req, res);
    });
    // Docker clients upgrade attach and exec-start connections ("Upgrade: tcp").
    server.on('upgrade', (req, socket, head) => {
      const res = new http.ServerResponse(req);
      // Node does not read the body of an upgrade request: take Content-Length bytes off the
      // connection ourselves (exec start sends its JSON there), the rest is the stream.
      const len = Number(req.headers['content-length'] ?? 0);
      const dispatch = (body: Buffer, rest: Buffer) => {
        (req as http.IncomingMessage & { bargeBody?: Buffer }).bargeBody = body;
        void this.router.dispatch(req, res, { socket, head: rest });
      };
      if (!(len > 0)) { dispatch(Buffer.alloc(0), head); return; }
      let buf = head;
      const take = () => {
        if (buf.length < len) return false;
        socket.off('data', onData);
        socket.pause();
        dispatch(buf.subarray(0, len), buf.subarray(len));
        return true;
      };
      const onData = (chunk: Buffer) => { buf = Buffer.concat([buf, chunk]); take(); };
      if (!take()) socket.on('data', onData);
    });
    server.requestTimeout = 0;       // streams (logs -f, events, attach) are long-lived
    server.headersTimeout = 60_000;
    server.keepAliveTimeout = 30_000;
    server.on('clientError', (_err, socket) => { if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\n\r\n'); });
    return server;
  }

  async listen(host: string): Promise<void> {
    const server = this.makeServer();
    if (host.startsWith('unix://') || host.startsWith('/')) {
      const p = host.startsWith('unix://') ? host.slice(7) : host;
      fs.mkdirSync(path.dirname(p), { recursive: true });
      // A socket file left by a dead daemon: remove it; a live one: refuse to start.
      if (fs.existsSync(p)) {
        if (await socketAlive(p)) throw invalid(`${p} is in use by another daemon: stop it or choose another socket with -H`);
        fs.rmSync(p, { force: true });
      }
      await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(p, () => resolve()); });
      fs.chmodSync(p, 0o660);
    } else if (host.startsWith('tcp://')) {
      const u = new URL(host);
      await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(Number(u.port || 2375), u.hostname, () => resolve()); });
      log.warn('API listening on TCP without TLS: anyone who can reach it is root on this host', { host });
    } else {
      throw invalid(`invalid host "${host}": use unix:///path/to.sock or tcp://addr:port`);
    }
    this.servers.push(server);
    log.info('API listening', { host });
  }

  async close(): Promise<void> {
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => { s.close(() => r()); s.closeAllConnections(); })));
  }
}

export function socketAlive(p: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.request({ socketPath: p, path: '/_ping', timeout: 1000 }, (res) => { res.resume(); resolve(true); });
    req.on('error', () => resolve(false));
    req.on('timeout', () => { req.destroy(); resolve(false); });
    req.end();
  });
}
