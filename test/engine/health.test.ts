// Health checks on a real barged: --health-* flags, status transitions shown by inspect and ps,
// the health filter, health_status events, probe timeouts, start periods and --no-healthcheck.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { until, ok } from '../helpers/engine.js';


describe('health checks', () => {
  let d: TestDaemon;
  before(async () => { d = await startDaemon(); });
  after(async () => { await d?.cleanup(); });

  const health = (name: string) => JSON.parse(ok(d.barge(['inspect', '-f', '{{json .State.Health}}', name]), 'inspect'));

  test('starting → unhealthy → healthy, with ps, the health filter and events', async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    // Before its first probe (an hour away) a container is "starting".
    ok(d.barge(['run', '-d', '--name', 'waiting', '--health-cmd', 'true', '--health-interval', '1h', 'busybox', 'sleep', '300']), 'run waiting');
    assert.equal(health('waiting').Status, 'starting');
    assert.match(ok(d.barge(['ps', '--filter', 'name=waiting', '--format', '{{.Status}}']), 'ps'), /\(health: starting\)/);
    assert.equal(ok(d.barge(['ps', '-q', '--filter', 'health=starting']), 'filter starting').length, 12);
    ok(d.barge(['rm', '-f', 'waiting']), 'rm waiting');

    ok(d.barge(['run', '-d', '--name', 'hc', '--health-cmd', 'cat /ok', '--health-interval', '200ms', '--health-retries', '2', 'busybox', 'sleep', '300']), 'run');
    await until('unhealthy', () => health('hc').Status === 'unhealthy', 10_000);
    const h = health('hc');
    assert.ok(h.FailingStreak >= 2);
    assert.equal(h.Log.at(-1).ExitCode, 1);
    assert.match(h.Log.at(-1).Output, /No such file/);
    assert.match(ok(d.barge(['ps', '--filter', 'name=hc', '--format', '{{.Status}}']), 'ps'), /\(unhealthy\)/);
    assert.equal(ok(d.barge(['ps', '-q', '--filter', 'health=unhealthy']), 'filter').length, 12);

    ok(d.barge(['exec', 'hc', 'sh', '-c', 'echo fine > /ok']), 'exec');
    await until('healthy', () => health('hc').Status === 'healthy', 10_000);
    const hh = health('hc');
    assert.equal(hh.FailingStreak, 0);
    assert.equal(hh.Log.at(-1).Output, 'fine\n');
    assert.ok(hh.Log.length <= 5);
    assert.equal(ok(d.barge(['ps', '-q', '--filter', 'health=healthy']), 'filter').length, 12);
    // Probes are not left in the container's exec list (one may be under way).
    assert.ok(Number(ok(d.barge(['inspect', '-f', '{{len .ExecIDs}}', 'hc']), 'execs')) <= 2);

    const ev = ok(d.barge(['events', '--since', String(since), '--until', String(Math.ceil(Date.now() / 1000) + 1), '--filter', 'container=hc', '--format', '{{.Action}}']), 'events');
    assert.match(ev, /health_status: unhealthy/);
    assert.match(ev, /health_status: healthy/);
    ok(d.barge(['rm', '-f', 'hc']), 'rm');
  });

  test('a probe over its timeout fails with Docker\'s message; a start period forgives failures', async () => {
    ok(d.barge(['run', '-d', '--name', 'slow', '--health-cmd', 'sleep 5', '--health-interval', '200ms', '--health-timeout', '300ms', '--health-retries', '1', 'busybox', 'sleep', '300']), 'run');
    await until('unhealthy', () => health('slow').Status === 'unhealthy', 15_000);
    const last = health('slow').Log.at(-1);
    assert.equal(last.ExitCode, -1);
    assert.equal(last.Output, 'Health check exceeded timeout (300ms)');
    ok(d.barge(['rm', '-f', 'slow']), 'rm');

    ok(d.barge(['run', '-d', '--name', 'grace', '--health-cmd', 'false', '--health-interval', '200ms', '--health-retries', '1', '--health-start-period', '1h', 'busybox', 'sleep', '300']), 'run');
    await until('probed', () => health('grace').Log.length >= 2, 10_000);
    assert.equal(health('grace').Status, 'starting');
    assert.equal(health('grace').FailingStreak, 0);
    ok(d.barge(['rm', '-f', 'grace']), 'rm');
  });

  test('no check: no Health; --no-healthcheck; the docker CLI shows the status', async () => {
    ok(d.barge(['run', '-d', '--name', 'plain', 'busybox', 'sleep', '300']), 'run');
    assert.equal(ok(d.barge(['inspect', '-f', '{{json .State.Health}}', 'plain']), 'inspect'), 'null');
    const r = d.barge(['run', '--rm', '--no-healthcheck', '--health-cmd', 'true', 'busybox', 'true']);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /--no-healthcheck conflicts with --health-\* options/);
    ok(d.docker(['run', '-d', '--name', 'dhc', '--health-cmd', 'true', '--health-interval', '200ms', 'busybox', 'sleep', '300']), 'docker run');
    await until('healthy via docker', () => /\(healthy\)/.test(d.docker(['ps', '--filter', 'name=dhc', '--format', '{{.Status}}']).stdout), 10_000);
    ok(d.barge(['rm', '-f', 'plain', 'dhc']), 'rm');
  });
});
