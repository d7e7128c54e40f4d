import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  tabwrite, renderFormat, selectFormat, templateString, isTableFormat, humanDuration, timeAgo, containerStatus,
  humanSize, humanSizeWithPrecision, bytesSize, formatPercent, truncateId, ellipsis, formatCommand, formatNames,
  formatLabels, displayablePorts, stringWidth,
} from '../../src/cli/lib/format.js';
import { TemplateError } from '../../src/cli/lib/template.js';
import { asMap } from '../../src/cli/lib/gofmt.js';

const HEADERS = {
  ID: 'CONTAINER ID', Image: 'IMAGE', Command: 'COMMAND', RunningFor: 'CREATED', Status: 'STATUS', Ports: 'PORTS', Names: 'NAMES',
};
const DEFAULT_TABLE = 'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}';

test('tabwriter: columns as Go text/tabwriter (cells are tab-terminated)', () => {
  assert.equal(tabwrite('a\tb\tc\naaa\tbbbb\tc\n', { minwidth: 0, padding: 1 }), 'a   b    c\naaa bbbb c\n');
  // A line with fewer cells ends the column block.
  assert.equal(tabwrite('aaaa\tb\nc\nd\te\n', { minwidth: 0, padding: 1 }), 'aaaa b\nc\nd e\n');
  // Trailing cells (after the last tab) are not padded; no trailing newline is kept as is.
  assert.equal(tabwrite('x\tyy\nxxx\ty', { minwidth: 0, padding: 2 }), 'x    yy\nxxx  y');
  // docker's defaults: minwidth 10, padding 3.
  assert.equal(tabwrite('ID\tIMAGE\tNAMES\n'), 'ID        IMAGE     NAMES\n');
  // Display width counts wide characters as two columns.
  assert.equal(tabwrite('日本\tx\nab\ty\n', { minwidth: 0, padding: 1 }), '日本 x\nab   y\n');
  assert.equal(tabwrite('a\tb\n', { minwidth: 0, padding: 0, padchar: '\t', tabwidth: 8 }), 'a\tb\n');
  assert.equal(tabwrite('top\tx\n', { minWidth: 20, padding: 1 }), 'top                 x\n');
});

test('empty docker ps prints the header with minwidth-10 columns', () => {
  assert.equal(renderFormat([], { format: '', defaultTable: DEFAULT_TABLE, headers: HEADERS }),
    'CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n');
});

test('table format: header from the header map, rows aligned', () => {
  const rows = [
    { ID: '4f66ad9a0b2e', Image: 'nginx', Command: '"nginx -g \'daemon of…"', RunningFor: '2 hours ago', Status: 'Up 2 hours', Ports: '0.0.0.0:8080->80/tcp', Names: 'web' },
    { ID: '9c3b1e7d2a10', Image: 'alpine', Command: '"sh"', RunningFor: '3 days ago', Status: 'Exited (0) 3 days ago', Ports: '', Names: 'quirky_tesla' },
  ];
  assert.equal(renderFormat(rows, { defaultTable: DEFAULT_TABLE, headers: HEADERS }), [
    'CONTAINER ID   IMAGE     COMMAND                  CREATED       STATUS                  PORTS                  NAMES',
    '4f66ad9a0b2e   nginx     "nginx -g \'daemon of…"   2 hours ago   Up 2 hours              0.0.0.0:8080->80/tcp   web',
    '9c3b1e7d2a10   alpine    "sh"                     3 days ago    Exited (0) 3 days ago                          quirky_tesla',
    '',
  ].join('\n'));
  // Custom table with literal \t as typed in a shell; header functions keep headers intact.
  assert.equal(renderFormat(rows, { format: 'table {{.ID}}\\t{{.Names | upper}}', defaultTable: DEFAULT_TABLE, headers: HEADERS }),
    'CONTAINER ID   NAMES\n4f66ad9a0b2e   WEB\n9c3b1e7d2a10   QUIRKY_TESLA\n');
});

test('custom, json and quiet formats', () => {
  const rows = [{ ID: 'a1', Names: 'web', Labels: '' }, { ID: 'b2', Names: 'db', Labels: 'x=1' }];
  const spec = { defaultTable: DEFAULT_TABLE, headers: HEADERS };
  assert.equal(renderFormat(rows, { ...spec, format: '{{.ID}}: {{.Names}}' }), 'a1: web\nb2: db\n');
  assert.equal(renderFormat(rows, { ...spec, format: '{{.ID}}\\n{{.Names}}' }), 'a1\nweb\nb2\ndb\n');
  assert.equal(renderFormat(rows, { ...spec, format: 'json' }), '{"ID":"a1","Names":"web","Labels":""}\n{"ID":"b2","Names":"db","Labels":"x=1"}\n');
  assert.equal(renderFormat([asMap({ b: '<x>', a: 1 })], { ...spec, format: 'json' }), '{"a":1,"b":"<x>"}\n');
  assert.equal(renderFormat(rows, { ...spec, quiet: true }), 'a1\nb2\n');
  assert.equal(renderFormat(rows, { ...spec, format: 'table', quiet: true }), 'a1\nb2\n');
  assert.equal(renderFormat([], { ...spec, format: '{{.ID}}' }), '');
});

test('format errors are "template parsing error: ..."', () => {
  const spec = { defaultTable: DEFAULT_TABLE, headers: HEADERS };
  assert.throws(() => renderFormat([{ ID: 'x' }], { ...spec, format: '{{.ID | nope}}' }),
    (e: unknown) => e instanceof TemplateError && e.message === 'template parsing error: template: :1: function "nope" not defined');
  class Ctx { ID() { return 'x'; } }
  assert.throws(() => renderFormat([new Ctx()], { ...spec, format: '{{.Foo}}' }),
    { message: 'template parsing error: template: :1:2: executing "" at <.Foo>: can\'t evaluate field Foo in type Ctx' });
});

test('format selection helpers', () => {
  assert.equal(selectFormat({ format: '', defaultTable: 'table X', headers: {} }), 'table X');
  assert.equal(selectFormat({ format: 'table', defaultTable: 'table X', headers: {} }), 'table X');
  assert.equal(selectFormat({ format: '{{.Names}}', defaultTable: 'table X', headers: {}, quiet: true }), '{{.ID}}');
  assert.equal(templateString('table {{.ID}}\\t{{.Names}}  '), '{{.ID}}\t{{.Names}}');
  assert.equal(templateString('json'), '{{json .}}');
  assert.equal(isTableFormat('table {{.ID}}'), true);
  assert.equal(isTableFormat('{{.ID}}'), false);
});

test('humanDuration follows go-units HumanDuration', () => {
  const s = 1000, min = 60 * s, h = 60 * min, day = 24 * h, week = 7 * day, month = 30 * day, year = 365 * day;
  const cases: [number, string][] = [
    [450, 'Less than a second'], [1 * s, '1 second'], [45 * s, '45 seconds'], [59 * s, '59 seconds'],
    [60 * s, 'About a minute'], [3 * min, '3 minutes'], [35 * min + 40 * s, '35 minutes'], [59 * min, '59 minutes'],
    [1 * h, 'About an hour'], [1 * h + 29 * min, 'About an hour'], [1 * h + 31 * min, '2 hours'], [3 * h + 29 * min, '3 hours'],
    [3 * h + 31 * min, '4 hours'], [24 * h, '24 hours'], [1 * day + 12 * h, '36 hours'], [2 * day, '2 days'],
    [13 * day + 5 * h, '13 days'], [2 * week, '2 weeks'], [4 * week + 3 * day, '4 weeks'], [1 * month, '4 weeks'],
    [1 * month + 2 * week, '6 weeks'], [2 * month, '2 months'], [13 * month, '13 months'], [24 * month, '24 months'],
    [24 * month + 2 * week, '2 years'], [3 * year + 2 * month, '3 years'], [-5 * s, 'Less than a second'],
  ];
  for (const [ms, want] of cases) assert.equal(humanDuration(ms), want, `${ms}ms`);
  const now = Date.UTC(2024, 5, 1, 12, 0, 0);
  assert.equal(timeAgo(now - 5000, now), '5 seconds ago');
  assert.equal(timeAgo(new Date(now - 3600e3), now), 'About an hour ago');
  assert.equal(timeAgo('2024-06-01T11:59:59.5Z', now), 'Less than a second ago');
});

test('containerStatus is the daemon State.String()', () => {
  const now = Date.UTC(2024, 5, 1, 12, 0, 0);
  const ago = (ms: number) => new Date(now - ms).toISOString();
  const zero = '0001-01-01T00:00:00Z';
  assert.equal(containerStatus({ Running: true, StartedAt: ago(5000) }, now), 'Up 5 seconds');
  assert.equal(containerStatus({ Running: true, StartedAt: ago(70e3) }, now), 'Up About a minute');
  assert.equal(containerStatus({ Running: true, StartedAt: ago(2 * 3600e3) }, now), 'Up 2 hours');
  assert.equal(containerStatus({ Running: true, Paused: true, StartedAt: ago(5000) }, now), 'Up 5 seconds (Paused)');
  assert.equal(containerStatus({ Running: true, StartedAt: ago(5000), Health: { Status: 'healthy' } }, now), 'Up 5 seconds (healthy)');
  assert.equal(containerStatus({ Running: true, StartedAt: ago(5000), Health: { Status: 'starting' } }, now), 'Up 5 seconds (health: starting)');
  assert.equal(containerStatus({ Running: true, Restarting: true, ExitCode: 1, FinishedAt: ago(3000) }, now), 'Restarting (1) 3 seconds ago');
  assert.equal(containerStatus({ Running: false, StartedAt: ago(600e3), FinishedAt: ago(180e3), ExitCode: 0 }, now), 'Exited (0) 3 minutes ago');
  assert.equal(containerStatus({ Running: false, StartedAt: zero, FinishedAt: zero }, now), 'Created');
  assert.equal(containerStatus({ Dead: true, StartedAt: ago(1) }, now), 'Dead');
  assert.equal(containerStatus({ RemovalInProgress: true }, now), 'Removal In Progress');
});

test('sizes: docker CLI 3-digit decimal, go-units HumanSize (4) and BytesSize', () => {
  assert.equal(humanSize(512), '512B');
  assert.equal(humanSize(0), '0B');
  assert.equal(humanSize(1234567), '1.23MB');
  assert.equal(humanSize(77.8e6), '77.8MB');
  assert.equal(humanSize(1000), '1kB');
  assert.equal(humanSize(999999), '1e+03kB'); // as docker prints it
  assert.equal(humanSize(1024, 4), '1.024kB');
  assert.equal(humanSizeWithPrecision(1048576, 4), '1.049MB');
  assert.equal(humanSizeWithPrecision(3.42e9, 4), '3.42GB');
  assert.equal(humanSizeWithPrecision(1e13 * 1e15, 4), '1e+04YB');
  assert.equal(bytesSize(1024), '1KiB');
  assert.equal(bytesSize(1536), '1.5KiB');
  assert.equal(bytesSize(3.42 * 2 ** 30), '3.42GiB');
  assert.equal(bytesSize(5.372 * 2 ** 40), '5.372TiB');
  assert.equal(bytesSize(2112), '2.062KiB');
  assert.equal(bytesSize(2 ** 50 * 2 ** 50), '1.049e+06YiB');
  assert.equal(formatPercent(12.3456), '12.35%');
  assert.equal(formatPercent(0), '0.00%');
});

test('ids, commands, names, labels', () => {
  assert.equal(truncateId('sha256:4f66ad9a0b2e8f4c1c0a7d6e5b4a3928'), '4f66ad9a0b2e');
  assert.equal(truncateId('4f66ad9a0b2e8f4c'), '4f66ad9a0b2e');
  assert.equal(truncateId('abc'), 'abc');
  assert.equal(formatCommand("sh -c 'while true; do sleep 1; done'"), '"sh -c \'while true; …"');
  assert.equal(formatCommand('/docker-entrypoint.sh nginx -g daemon off;'), '"/docker-entrypoint.…"');
  assert.equal(formatCommand('sh'), '"sh"');
  assert.equal(formatCommand('echo "hi"', false), '"echo \\"hi\\""');
  assert.equal(ellipsis('abcdef', 4), 'abc…');
  assert.equal(ellipsis('abcdef', 1), 'a');
  assert.equal(ellipsis('abcdef', 0), '');
  assert.equal(ellipsis('日本語テキスト', 5), '日本…');
  assert.equal(ellipsis('日本', 4), '日本');
  assert.equal(stringWidth('日本ab'), 6);
  assert.equal(formatNames(['/web', '/other/link']), 'web');
  assert.equal(formatNames(['/other/link', '/web']), 'web');
  assert.equal(formatNames(['/web', '/other/link'], false), 'web,other/link');
  assert.equal(formatLabels({ b: '2', a: '1' }), 'a=1,b=2');
  assert.equal(formatLabels(null), '');
});

test('displayablePorts groups ranges and lists host mappings as docker ps', () => {
  assert.equal(displayablePorts([]), '');
  assert.equal(displayablePorts([
    { IP: '0.0.0.0', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' },
    { IP: '::', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' },
  ]), '0.0.0.0:8080->80/tcp, [::]:8080->80/tcp');
  assert.equal(displayablePorts([
    { PrivatePort: 9001, Type: 'tcp' }, { PrivatePort: 9000, Type: 'tcp' }, { PrivatePort: 9002, Type: 'tcp' },
    { PrivatePort: 53, Type: 'udp' },
  ]), '53/udp, 9000-9002/tcp');
  assert.equal(displayablePorts([
    { IP: '0.0.0.0', PrivatePort: 6000, PublicPort: 6000, Type: 'tcp' },
    { IP: '0.0.0.0', PrivatePort: 6001, PublicPort: 6001, Type: 'tcp' },
  ]), '0.0.0.0:6000-6001->6000-6001/tcp');
});
