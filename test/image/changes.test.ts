// Dockerfile `changes` of docker import/commit, and the commit config merge.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyChanges, mergeCommitConfig } from '../../src/image/changes.js';

test('changes: each allowed instruction', () => {
  const c = applyChanges({ Env: ['PATH=/bin'], Cmd: ['sh'] }, [
    'ENV A=1 B="two words" C=$PATH:/x',
    'ENV LEGACY value with spaces',
    'LABEL "com.example.x"="y z" k=v',
    'EXPOSE 80 53/udp 8000-8001',
    'USER nobody:nogroup',
    'WORKDIR /srv',
    'WORKDIR app',
    'STOPSIGNAL SIGINT',
    'VOLUME ["/data", "/logs"]',
    'VOLUME /cache',
    'ONBUILD RUN echo hi',
    'HEALTHCHECK --interval=30s --retries=3 CMD curl -f http://localhost/',
    'CMD echo shell form',
  ]);
  assert.deepEqual(c.Env, ['PATH=/bin', 'A=1', 'B=two words', 'C=/bin:/x', 'LEGACY=value with spaces']);
  assert.deepEqual(c.Labels, { 'com.example.x': 'y z', k: 'v' });
  assert.deepEqual(Object.keys(c.ExposedPorts!), ['80/tcp', '53/udp', '8000/tcp', '8001/tcp']);
  assert.equal(c.User, 'nobody:nogroup');
  assert.equal(c.WorkingDir, '/srv/app');
  assert.equal(c.StopSignal, 'SIGINT');
  assert.deepEqual(Object.keys(c.Volumes!), ['/data', '/logs', '/cache']);
  assert.deepEqual(c.OnBuild, ['RUN echo hi']);
  assert.deepEqual(c.Healthcheck, { Interval: 30e9, Retries: 3, Test: ['CMD-SHELL', 'curl -f http://localhost/'] });
  assert.deepEqual(c.Cmd, ['/bin/sh', '-c', 'echo shell form']);
});

test('changes: ENTRYPOINT drops an inherited CMD, not one given with it; bad instructions are refused', () => {
  assert.deepEqual(applyChanges({ Cmd: ['sh'] }, ['ENTRYPOINT ["top"]']), { Cmd: null, Entrypoint: ['top'] });
  assert.deepEqual(applyChanges({ Cmd: ['sh'] }, ['CMD ["-b"]', 'ENTRYPOINT ["top"]']), { Cmd: ['-b'], Entrypoint: ['top'] });
  assert.throws(() => applyChanges({}, ['RUN echo']), /run is not a valid change command/);
  assert.throws(() => applyChanges({}, ['FROM busybox']), /from is not a valid change command/);
  assert.throws(() => applyChanges({}, ['EXPOSE nope']), /invalid containerPort/);
  assert.throws(() => applyChanges({}, ['ONBUILD ONBUILD RUN x']), /Chaining ONBUILD/);
  assert.throws(() => applyChanges({}, ['ENV =x']), /names can not be blank/);
});

test('commit merge: the container config fills what the commit config leaves unset', () => {
  const merged = mergeCommitConfig({ Env: ['A=2'], Labels: { x: '1' } }, { Env: ['A=1', 'PATH=/bin'], Cmd: ['sh'], Labels: { y: '2' }, WorkingDir: '/w', User: 'u' });
  assert.deepEqual(merged, { User: 'u', Env: ['A=2', 'PATH=/bin'], Labels: { y: '2', x: '1' }, Cmd: ['sh'], WorkingDir: '/w' });
});
