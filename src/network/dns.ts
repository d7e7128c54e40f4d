// The DNS server of user-defined networks: containers find each other by name.
//
// One server per user network listens on the network's gateway address, port 53, UDP and TCP, in
// the host's namespace (containers of that network use it as their only nameserver). For a
// query it asks `lookup(name, clientIp)`:
//   - addresses: the name is a container name, alias or short id on a network of the asking
//     container — answered here (A records; other types get an empty NOERROR answer, as Docker's
//     embedded DNS does for names it owns), and PTR for those addresses;
//   - undefined: not ours — the query is relayed unchanged to the upstream resolvers of that
//     container (its --dns servers, else the host's), over the same transport, and the answer
//     relayed back.
// Messages are handled by hand: only the header and the question are read (RFC 1035 §4.1).
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { log } from '../lib/log.js';

export interface DnsResolver {
  /** Addresses for a name asked by `client`, or undefined if the name is not the network's. */
  lookup(name: string, client: string): string[] | undefined;
  /** The name of an address (PTR), if it is a container's on a network of the client. */
  reverse(ip: string, client: string): string | undefined;
  /** Where to send what is not ours. */
  upstreams(client: string): string[];
}

const TYPE_A = 1, TYPE_PTR = 12, CLASS_IN = 1;
const TTL = 600;
const UPSTREAM_TIMEOUT_MS = 4000;

interface Question { name: string; type: number; cls: number; end: number }

function readQuestion(msg: Buffer): Question | undefined {
  if (msg.length < 12 || msg.readUInt16BE(4) !== 1) return undefined;
  const labels: string[] = [];
  let o = 12;
  for (;;) {
    if (o >= msg.length) return undefined;
    const len = msg[o]!;
    if (len === 0) { o++; break; }
    if (len > 63 || o + 1 + len > msg.length) return undefined;  // compression in a question: not expected
    labels.push(msg.toString('latin1', o + 1, o + 1 + len));
    o += 1 + len;
  }
  if (o + 4 > msg.length) return undefined;
  return { name: labels.join('.').toLowerCase(), type: msg.readUInt16BE(o), cls: msg.readUInt16BE(o + 2), end: o + 4 };
}

function encodeName(name: string): Buffer {
  const parts = name.split('.').filter(Boolean).map((l) => { const b = Buffer.from(l, 'latin1'); return Buffer.concat([Buffer.from([b.length]), b]); });
  return Buffer.concat([...parts, Buffer.from([0])]);
}

/** An answer to the query: header, the question as asked, and the records. rcode 0 or 3 (NXDOMAIN) or 2 (SERVFAIL). */
function answer(query: Buffer, q: Question | undefined, rrs: Buffer[], rcode: number): Buffer {
  const h = Buffer.alloc(12);
  query.copy(h, 0, 0, 2);                                    // id
  const rd = query.length > 2 ? query[2]! & 0x01 : 0;
  h[2] = 0x80 | (query.length > 2 ? query[2]! & 0x78 : 0) | (rcode === 2 ? 0 : 0x04) | rd;  // QR, opcode, AA, RD
  h[3] = 0x80 | rcode;                                       // RA, rcode
  h.writeUInt16BE(q ? 1 : 0, 4);
  h.writeUInt16BE(rrs.length, 6);
  return Buffer.concat([h, q ? query.subarray(12, q.end) : Buffer.alloc(0), ...rrs]);
}

function aRecord(ip: string): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt16BE(0xc00c, 0);  // the question's name
  b.writeUInt16BE(TYPE_A, 2); b.writeUInt16BE(CLASS_IN, 4); b.writeUInt32BE(TTL, 6); b.writeUInt16BE(4, 10);
  ip.split('.').forEach((x, i) => { b[12 + i] = Number(x); });
  return b;
}

function ptrRecord(target: string): Buffer {
  const data = encodeName(target);
  const b = Buffer.alloc(12);
  b.writeUInt16BE(0xc00c, 0);
  b.writeUInt16BE(TYPE_PTR, 2); b.writeUInt16BE(CLASS_IN, 4); b.writeUInt32BE(TTL, 6); b.writeUInt16BE(data.length, 10);
  return Buffer.concat([b, data]);
}

/** Our answer for a query, or undefined to relay it upstream. */
export function localAnswer(query: Buffer, r: DnsResolver, client: string): Buffer | undefined {
  const q = readQuestion(query);
  if (!q) return answer(query, undefined, [], 1);  // FORMERR
  if (q.cls !== CLASS_IN) return undefined;
  const ptr = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\.in-addr\.arpa$/.exec(q.name);
  if (ptr && q.type === TYPE_PTR) {
    const name = r.reverse(`${ptr[4]}.${ptr[3]}.${ptr[2]}.${ptr[1]}`, client);
    return name === undefined ? undefined : answer(query, q, [ptrRecord(name)], 0);
  }
  const ips = r.lookup(q.name.replace(/\.$/, ''), client);
  if (ips === undefined) return undefined;
  return answer(query, q, q.type === TYPE_A ? ips.map(aRecord) : [], 0);
}

function servfail(query: Buffer): Buffer { return answer(query, readQuestion(query), [], 2); }

function relayUdp(query: Buffer, servers: string[]): Promise<Buffer> {
  return new Promise((resolve) => {
    let i = 0;
    const next = (): void => {
      const server = servers[i++];
      if (!server) { resolve(servfail(query)); return; }
      const s = dgram.createSocket(net.isIPv6(server) ? 'udp6' : 'udp4');
      const t = setTimeout(() => { s.close(); next(); }, UPSTREAM_TIMEOUT_MS);
      s.on('error', () => { clearTimeout(t); s.close(); next(); });
      s.on('message', (m) => {
        if (m.length < 2 || m.readUInt16BE(0) !== query.readUInt16BE(0)) return;
        clearTimeout(t); s.close(); resolve(m);
      });
      s.send(query, 53, server);
    };
    next();
  });
}

function relayTcp(query: Buffer, servers: string[]): Promise<Buffer> {
  return new Promise((resolve) => {
    let i = 0;
    const next = (): void => {
      const server = servers[i++];
      if (!server) { resolve(servfail(query)); return; }
      const c = net.connect({ host: server, port: 53 });
      let buf = Buffer.alloc(0);
      let done = false;
      const fail = () => { if (!done) { done = true; c.destroy(); next(); } };
      c.setTimeout(UPSTREAM_TIMEOUT_MS, fail);
      c.on('error', fail);
      c.on('close', fail);
      c.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          done = true; c.destroy(); resolve(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        }
      });
      const len = Buffer.alloc(2); len.writeUInt16BE(query.length);
      c.end(Buffer.concat([len, query]));
    };
    next();
  });
}

export class DnsServer {
  private udp?: dgram.Socket;
  private tcp?: net.Server;

  private constructor(readonly address: string, private readonly r: DnsResolver) {}

  /** Listen on address:53 (UDP and TCP). Rejects if the address or port cannot be had. */
  static async listen(address: string, r: DnsResolver, port = 53): Promise<DnsServer> {
    const s = new DnsServer(address, r);
    const udp = dgram.createSocket({ type: 'udp4' });
    await new Promise<void>((resolve, reject) => { udp.once('error', reject); udp.bind(port, address, () => { udp.removeListener('error', reject); resolve(); }); });
    udp.on('error', (e) => log.warn('dns: udp socket error', { address, error: e.message }));
    udp.on('message', (msg, rinfo) => void s.onUdp(msg, rinfo));
    const tcp = net.createServer((c) => s.onTcp(c));
    try {
      await new Promise<void>((resolve, reject) => { tcp.once('error', reject); tcp.listen(port, address, () => { tcp.removeListener('error', reject); resolve(); }); });
    } catch (e) {
      udp.close();
      throw e;
    }
    tcp.on('error', (e) => log.warn('dns: tcp socket error', { address, error: e.message }));
    udp.unref(); tcp.unref();
    s.udp = udp; s.tcp = tcp;
    return s;
  }

  private async onUdp(msg: Buffer, rinfo: dgram.RemoteInfo): Promise<void> {
    let reply: Buffer;
    try {
      reply = localAnswer(msg, this.r, rinfo.address) ?? await relayUdp(msg, this.r.upstreams(rinfo.address));
    } catch (e) {
      log.warn('dns: query failed', { error: (e as Error).message });
      reply = servfail(msg);
    }
    this.udp?.send(reply, rinfo.port, rinfo.address);
  }

  private onTcp(c: net.Socket): void {
    let buf = Buffer.alloc(0);
    c.setTimeout(10_000, () => c.destroy());
    c.on('error', () => undefined);
    c.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + msg.length);
        const client = c.remoteAddress?.replace(/^::ffff:/, '') ?? '';
        void (async () => {
          const reply = localAnswer(msg, this.r, client) ?? await relayTcp(msg, this.r.upstreams(client));
          const len = Buffer.alloc(2); len.writeUInt16BE(reply.length);
          if (!c.destroyed) c.write(Buffer.concat([len, reply]));
        })().catch(() => c.destroy());
      }
    });
  }

  close(): void {
    try { this.udp?.close(); } catch { /* closed */ }
    this.tcp?.close();
  }
}
