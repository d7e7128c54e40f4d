// barged's settings as dockerd takes them: defaults, daemon.json, flags over the file, and clear
// errors for values that cannot be used.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseDaemonArgs } from '../../src/daemon/config.js';

function withConfig(json: unknown, fn: (file: string) => void): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'barge-config-'));
  try {
    const file = path.join(dir, 'daemon.json');
    fs.writeFileSync(file, JSON.stringify(json));
    fn(file);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('registry transfer settings: Docker\'s defaults, daemon.json, and flags over the file', () => {
  withConfig({}, (file) => {
    const { config } = parseDaemonArgs(['--config-file', file]);
    assert.equal(config.maxConcurrentDownloads, 3);
    assert.equal(config.maxConcurrentUploads, 5);
    assert.equal(config.maxDownloadAttempts, 5);
  });
  withConfig({ 'max-concurrent-downloads': 6, 'max-concurrent-uploads': 2, 'max-download-attempts': 1 }, (file) => {
    const fromFile = parseDaemonArgs(['--config-file', file]).config;
    assert.deepEqual([fromFile.maxConcurrentDownloads, fromFile.maxConcurrentUploads, fromFile.maxDownloadAttempts], [6, 2, 1]);
    const flags = parseDaemonArgs(['--config-file', file, '--max-concurrent-downloads', '4', '--max-concurrent-uploads=8']).config;
    assert.deepEqual([flags.maxConcurrentDownloads, flags.maxConcurrentUploads, flags.maxDownloadAttempts], [4, 8, 1]);
  });
});

test('a transfer setting that is not a whole number of 1 or more is refused, naming the setting', () => {
  withConfig({}, (file) => {
    for (const bad of ['0', '-1', '2.5', 'three', '']) {
      assert.throws(() => parseDaemonArgs(['--config-file', file, `--max-concurrent-downloads=${bad}`]),
        new RegExp(`invalid argument "${bad.replace('.', '\\.')}" for "--max-concurrent-downloads": must be a whole number of 1 or more`));
    }
  });
  withConfig({ 'max-download-attempts': true }, (file) => {
    assert.throws(() => parseDaemonArgs(['--config-file', file]), /invalid argument "true" for "max-download-attempts"/);
  });
  withConfig({ 'max-concurrent-uploads': 0 }, (file) => {
    assert.throws(() => parseDaemonArgs(['--config-file', file]), /invalid argument "0" for "max-concurrent-uploads"/);
  });
});
