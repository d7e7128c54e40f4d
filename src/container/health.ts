// Health checks (Docker's HEALTHCHECK / --health-*): a probe command run in the container, on a
// timer, while it runs; its results make State.Health (starting → healthy / unhealthy) that
// inspect, ps ("Up 5 seconds (healthy)"), the health filter and `health_status` events show.
//
// The checker follows the container lifecycle on the event bus: `start` (and, at daemon start,
// every running container) arms a container's timer; `die`, `destroy` and `pause` disarm it
// (`unpause` re-arms it). Docker's rules:
//   - Test ["NONE"] disables; ["CMD", …] runs as is; ["CMD-SHELL", cmd] runs /bin/sh -c cmd.
//   - The first probe comes one interval after the start (StartInterval while in the start period),
//     then every interval. A probe longer than Timeout is killed and counts as a failure (-1).
//   - Exit 0: healthy, streak reset. A failure in the start period changes nothing; after it,
//     the failing streak grows and at Retries consecutive failures the status is unhealthy.
//   - The last 5 results are kept (output cut to 4 KiB).
import { log } from '../lib/log.js';
import { messageOf } from '../lib/errors.js';
import type { EventBus, EngineEvent } from '../lib/events.js';
import type { ContainerService } from './service.js';
import type { ExecService } from './exec.js';
import type { ContainerRecord, HealthConfig } from './types.js';

const NS = 1_000_000;  // Docker's durations are nanoseconds
const DEFAULT_INTERVAL_MS = 30_000;
const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_START_INTERVAL_MS = 5_000;
const DEFAULT_RETRIES = 3;
const KEEP = 5;

interface Armed { timer?: NodeJS.Timeout; startedAt: number; running: boolean }

/** The probe command of a health config, or undefined when there is no (enabled) check. */
export function probeCommand(h: HealthConfig | undefined): string[] | undefined {
  const t = h?.Test;
  if (!t || t.length === 0 || t[0] === 'NONE') return undefined;
  if (t[0] === 'CMD') return t.length > 1 ? t.slice(1) : undefined;
  if (t[0] === 'CMD-SHELL') return t.length > 1 ? ['/bin/sh', '-c', t.slice(1).join(' ')] : undefined;
  return undefined;
}

export class HealthChecker {
  private readonly armed = new Map<string, Armed>();

  constructor(private readonly containers: ContainerService, private readonly execs: ExecService, private readonly events: EventBus) {
    events.on('event', (ev: EngineEvent) => {
      if (ev.Type !== 'container') return;
      const id = ev.Actor.ID;
      if (ev.Action === 'start' || ev.Action === 'unpause') this.arm(id, ev.Action === 'start');
      else if (ev.Action === 'die' || ev.Action === 'destroy' || ev.Action === 'pause') this.disarm(id);
    });
    for (const c of containers.store.all()) if (c.State.Running && !c.State.Paused) this.arm(c.Id, false);
  }

  close(): void {
    for (const id of [...this.armed.keys()]) this.disarm(id);
  }

  private arm(id: string, fresh: boolean): void {
    const c = this.containers.store.get(id);
    if (!c || !probeCommand(c.Config.Healthcheck)) return;
    this.disarm(id);
    if (fresh || !c.State.Health) {
      c.State.Health = { Status: 'starting', FailingStreak: 0, Log: [] };
      this.containers.store.save(c);
    }
    const started = Date.parse(c.State.StartedAt) || Date.now();
    const a: Armed = { startedAt: started, running: false };
    this.armed.set(id, a);
    this.schedule(id, a, c);
  }

  private disarm(id: string): void {
    const a = this.armed.get(id);
    if (a?.timer) clearTimeout(a.timer);
    this.armed.delete(id);
  }

  private schedule(id: string, a: Armed, c: ContainerRecord): void {
    const h = c.Config.Healthcheck ?? {};
    const interval = h.Interval ? h.Interval / NS : DEFAULT_INTERVAL_MS;
    const startPeriod = (h.StartPeriod ?? 0) / NS;
    const inStart = Date.now() - a.startedAt < startPeriod && c.State.Health?.Status === 'starting';
    const delay = inStart ? Math.min(interval, h.StartInterval ? h.StartInterval / NS : DEFAULT_START_INTERVAL_MS) : interval;
    a.timer = setTimeout(() => void this.probe(id, a), delay);
    a.timer.unref();
  }

  private async probe(id: string, a: Armed): Promise<void> {
    const c = this.containers.store.get(id);
    if (!c || this.armed.get(id) !== a || !c.State.Running || c.State.Paused) return;
    const h = c.Config.Healthcheck ?? {};
    const cmd = probeCommand(h);
    if (!cmd) return;
    const timeoutMs = h.Timeout ? h.Timeout / NS : DEFAULT_TIMEOUT_MS;
    const start = new Date();
    let r: { exitCode: number; output: string; timedOut: boolean };
    try {
      r = await this.execs.probe(id, cmd, { timeoutMs, user: c.Config.User || undefined });
    } catch (e) {
      r = { exitCode: -1, output: messageOf(e), timedOut: false };
    }
    if (this.armed.get(id) !== a) return;  // stopped or restarted meanwhile
    const cur = this.containers.store.get(id);
    if (!cur || !cur.State.Running) return;
    const health = cur.State.Health ?? { Status: 'starting', FailingStreak: 0, Log: [] };
    const output = r.timedOut ? `Health check exceeded timeout (${formatDuration(timeoutMs)})` : r.output;
    health.Log = [...health.Log, { Start: start.toISOString(), End: new Date().toISOString(), ExitCode: r.exitCode, Output: output }].slice(-KEEP);
    const before = health.Status;
    if (r.exitCode === 0) {
      health.Status = 'healthy';
      health.FailingStreak = 0;
    } else if (!(Date.now() - a.startedAt < (h.StartPeriod ?? 0) / NS && before === 'starting')) {
      health.FailingStreak++;
      if (health.FailingStreak >= (h.Retries || DEFAULT_RETRIES)) health.Status = 'unhealthy';
    }
    cur.State.Health = health;
    try { this.containers.store.save(cur); } catch (e) { log.warn('could not save health state', { container: id.slice(0, 12), error: messageOf(e) }); }
    if (health.Status !== before) {
      this.events.publish('container', `health_status: ${health.Status}`, id, { image: cur.Config.Image ?? '', name: cur.Name.slice(1) });
    }
    this.schedule(id, a, cur);
  }
}

function formatDuration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}
