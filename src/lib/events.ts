// The engine's event bus: every subsystem publishes Docker-shaped events here; the API's
// /events endpoint replays recent ones (since/until) and streams new ones with filters.
import { EventEmitter } from 'node:events';

export interface EngineEvent {
  Type: 'container' | 'image' | 'network' | 'volume' | 'daemon' | 'builder';
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local';
  time: number;
  timeNano: number;
  // Legacy fields Docker still sends for containers and images.
  status?: string; id?: string; from?: string;
}

const KEEP = 1024;

export class EventBus extends EventEmitter {
  private recent: EngineEvent[] = [];

  publish(type: EngineEvent['Type'], action: string, id: string, attributes: Record<string, string> = {}): EngineEvent {
    const nowNs = BigInt(Date.now()) * 1_000_000n + BigInt(process.hrtime()[1] % 1_000_000);
    const ev: EngineEvent = {
      Type: type, Action: action, Actor: { ID: id, Attributes: attributes }, scope: 'local',
      time: Number(nowNs / 1_000_000_000n), timeNano: Number(nowNs),
    };
    if (type === 'container' || type === 'image') {
      ev.status = action; ev.id = id;
      if (attributes.image) ev.from = attributes.image;
    }
    this.recent.push(ev);
    if (this.recent.length > KEEP) this.recent.splice(0, this.recent.length - KEEP);
    this.emit('event', ev);
    return ev;
  }

  since(tsNano: number): EngineEvent[] {
    return this.recent.filter((e) => e.timeNano >= tsNano);
  }
}
