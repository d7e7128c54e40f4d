import { test } from 'node:test';
import assert from 'node:assert/strict';
import { familiarString, normalize, parseNormalizedNamed, parseTagTarget, referenceString, withDefaultTag } from '../../src/image/reference.js';
import { BargeError } from '../../src/lib/errors.js';

const D = 'sha256:' + 'b'.repeat(64);

// [input, normalised (with default tag), familiar]
const VALID: [string, string, string][] = [
  ['busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
  ['busybox:latest', 'docker.io/library/busybox:latest', 'busybox:latest'],
  ['busybox:1.36.1-glibc', 'docker.io/library/busybox:1.36.1-glibc', 'busybox:1.36.1-glibc'],
  ['library/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
  ['docker.io/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
  ['docker.io/library/busybox:1', 'docker.io/library/busybox:1', 'busybox:1'],
  ['index.docker.io/library/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
  ['dmcgowan/myapp', 'docker.io/dmcgowan/myapp:latest', 'dmcgowan/myapp:latest'],
  ['dmcgowan/myapp/more:v2', 'docker.io/dmcgowan/myapp/more:v2', 'dmcgowan/myapp/more:v2'],
  ['docker.io/library/foo/bar', 'docker.io/library/foo/bar:latest', 'library/foo/bar:latest'],
  ['localhost/myapp', 'localhost/myapp:latest', 'localhost/myapp:latest'],
  ['localhost:5000/myapp:dev', 'localhost:5000/myapp:dev', 'localhost:5000/myapp:dev'],
  ['host:5000/a/b:tag', 'host:5000/a/b:tag', 'host:5000/a/b:tag'],
  ['registry.example.com/team/app', 'registry.example.com/team/app:latest', 'registry.example.com/team/app:latest'],
  ['[::1]:5000/foo', '[::1]:5000/foo:latest', '[::1]:5000/foo:latest'],
  [`busybox@${D}`, `docker.io/library/busybox@${D}`, `busybox@${D}`],
  [`busybox:1.36@${D}`, `docker.io/library/busybox:1.36@${D}`, `busybox:1.36@${D}`],
  ['my-app/some__thing--z.x_y', 'docker.io/my-app/some__thing--z.x_y:latest', 'my-app/some__thing--z.x_y:latest'],
  ['foo:5000', 'docker.io/library/foo:5000', 'foo:5000'],
];

const INVALID: [string, RegExp][] = [
  ['', /invalid reference format/],
  ['Busybox', /invalid reference format: repository name \(library\/Busybox\) must be lowercase/],
  ['busybox:', /invalid reference format/],
  [':latest', /invalid reference format/],
  ['-busybox', /invalid reference format/],
  ['busybox/', /invalid reference format/],
  ['busybox//x', /invalid reference format/],
  ['a:b:c', /invalid reference format/],
  ['busybox:' + 'x'.repeat(129), /invalid reference format/],
  ['busybox@sha256:abc', /invalid reference format/],
  ['busybox@sha256:' + 'a'.repeat(40), /invalid checksum digest length/],
  ['my_app.com/x', /invalid reference format/],
  ['busybox@md5:' + 'a'.repeat(32), /unsupported digest algorithm/],
  ['b'.repeat(64), /cannot specify 64-byte hexadecimal strings/],
  ['a/' + 'b'.repeat(260), /must not be more than 255 characters/],
  ['foo bar', /invalid reference format/],
  ['http://host/foo', /invalid reference format/],
];

test('reference: normalisation table (Docker\'s examples)', () => {
  for (const [input, norm, fam] of VALID) {
    if (fam === '') continue;
    const ref = parseNormalizedNamed(input);
    assert.equal(referenceString(withDefaultTag(ref)), norm, input);
    assert.equal(normalize(input), norm, input);
    assert.equal(familiarString(withDefaultTag(ref)), fam, input);
  }
});

test('reference: invalid references are 400 errors with Docker\'s messages', () => {
  for (const [input, msg] of INVALID) {
    assert.throws(() => parseNormalizedNamed(input), (e: unknown) => e instanceof BargeError && e.status === 400 && msg.test(e.message), JSON.stringify(input));
  }
});

test('reference: tag targets refuse digests and default to latest', () => {
  assert.equal(referenceString(parseTagTarget('myimg')), 'docker.io/library/myimg:latest');
  assert.throws(() => parseTagTarget(`myimg@${D}`), /refusing to create a tag with a digest reference/);
});
