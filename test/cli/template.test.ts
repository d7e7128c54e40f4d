import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTemplate, executeTemplate, TemplateError, asStruct, headerFuncs } from '../../src/cli/lib/template.js';

// A container as /containers/{id}/json returns it (abridged).
const ctr = {
  Id: '4f66ad9a0b2e8f4c1c0a7d6e5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a3921',
  Name: '/web',
  State: { Status: 'running', Running: true, Paused: false, Pid: 1234, ExitCode: 0, Health: null },
  Config: {
    Image: 'nginx:latest',
    Labels: { 'com.example.vendor': 'ACME', foo: 'bar' },
    Env: ['PATH=/usr/bin', 'A=<1>'],
    Cmd: ['nginx', '-g', 'daemon off;'],
  },
  Mounts: [
    { Type: 'bind', Source: '/srv/www', Destination: '/usr/share/nginx/html' },
    { Type: 'volume', Source: '/var/lib/barge/volumes/data/_data', Destination: '/data' },
  ],
  NetworkSettings: { Ports: { '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '8080' }] } },
  SizeRw: 1.5,
};

const run = (tmpl: string, data: unknown = ctr) => parseTemplate(tmpl).execute(data);
const execErr = (tmpl: string, data: unknown = ctr) => {
  try { run(tmpl, data); } catch (e) { assert.ok(e instanceof TemplateError); return (e as Error).message; }
  assert.fail(`no error for ${tmpl}`);
};

test('fields, nested fields and map keys', () => {
  assert.equal(run('{{.Name}}'), '/web');
  assert.equal(run('{{.State.Pid}}'), '1234');
  assert.equal(run('{{.Config.Labels.foo}}'), 'bar');
  assert.equal(run('{{.Config.Labels.missing}}'), '<no value>');
  assert.equal(run('{{.}}', 'x'), 'x');
  assert.equal(run('{{.State.Running}} {{.State.Paused}}'), 'true false');
  assert.equal(run('{{.SizeRw}}'), '1.5');
});

test('index, len, slice', () => {
  assert.equal(run('{{index .Config.Labels "com.example.vendor"}}'), 'ACME');
  assert.equal(run('[{{index .Config.Labels "nope"}}]'), '[]');
  assert.equal(run('{{index .Config.Cmd 1}}'), '-g');
  assert.equal(run('{{(index (index .NetworkSettings.Ports "80/tcp") 0).HostPort}}'), '8080');
  assert.equal(run('{{len .Mounts}} {{len .Name}} {{len .Config.Labels}}'), '2 4 2');
  assert.equal(run('{{slice .Name 1}} {{slice .Config.Cmd 1 2}}'), 'web [-g]');
  assert.equal(execErr('{{index .Config.Cmd 7}}'), 'template: :1:2: executing "" at <index .Config.Cmd 7>: error calling index: index out of range: 7');
});

test('json is compact, ordered like Go (struct fields as given, maps sorted), no HTML escaping (docker)', () => {
  assert.equal(run('{{json .Config.Labels}}'), '{"com.example.vendor":"ACME","foo":"bar"}');
  assert.equal(run('{{json .Config.Env}}'), '["PATH=/usr/bin","A=<1>"]');
  assert.equal(run('{{json .State}}'), '{"Status":"running","Running":true,"Paused":false,"Pid":1234,"ExitCode":0,"Health":null}');
  assert.equal(run('{{json .Nope}}'), 'null');
  assert.equal(run('{{json .}}', { b: 'x<y', a: 1 }), '{"a":1,"b":"x<y"}');
});

test('pipelines and printf', () => {
  assert.equal(run('{{.Name | printf "%s!"}}'), '/web!');
  assert.equal(run('{{printf "%-6s|%5d|%q" "ab" 42 .Name}}'), 'ab    |   42|"/web"');
  assert.equal(run('{{printf "%.2f%%" 12.345}}'), '12.35%');
  assert.equal(run('{{printf "%v" .Config.Env}}'), '[PATH=/usr/bin A=<1>]');
  assert.equal(run('{{printf "%s" .State.Pid}}'), '%!s(int=1234)');
  assert.equal(run('{{printf "%s" .Nope}}'), '%!s(<nil>)');
  assert.equal(run('{{.Name | len | printf "%d chars"}}'), '4 chars');
  assert.equal(run('{{print "a" 1 2 "b"}}|{{println "x" 1}}'), 'a1 2b|x 1\n');
});

test('range over slices and maps, with variables, else, break and continue', () => {
  assert.equal(run('{{range .Mounts}}{{.Source}} {{end}}'), '/srv/www /var/lib/barge/volumes/data/_data ');
  assert.equal(run('{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}'), 'com.example.vendor=ACME;foo=bar;');
  assert.equal(run('{{range $i, $m := .Mounts}}{{$i}}:{{$m.Destination}} {{end}}'), '0:/usr/share/nginx/html 1:/data ');
  assert.equal(run('{{range $e := .Config.Cmd}}<{{$e}}>{{end}}'), '<nginx><-g><daemon off;>');
  assert.equal(run('{{range .Nope}}x{{else}}none{{end}}'), 'none');
  assert.equal(run('{{range .Config.Cmd}}{{if eq . "-g"}}{{continue}}{{end}}{{.}},{{end}}'), 'nginx,daemon off;,');
  assert.equal(run('{{range .Config.Cmd}}{{if eq . "-g"}}{{break}}{{end}}{{.}},{{end}}'), 'nginx,');
  assert.equal(run('{{range $p, $b := .NetworkSettings.Ports}}{{$p}} -> {{(index $b 0).HostPort}}{{end}}'), '80/tcp -> 8080');
  assert.equal(run('{{range 3}}{{.}}{{end}}'), '012');
  assert.equal(execErr('{{range .Name}}{{end}}'), 'template: :1:8: executing "" at <{{range .Name}}{{end}}>: range can\'t iterate over /web');
});

test('if/else/with and comparisons', () => {
  assert.equal(run('{{if .State.Running}}up{{else}}down{{end}}'), 'up');
  assert.equal(run('{{if eq .State.Status "running"}}R{{end}}'), 'R');
  assert.equal(run('{{if eq .State.Status "exited" "running"}}R{{end}}'), 'R');
  assert.equal(run('{{if ne .State.ExitCode 0}}bad{{else}}ok{{end}}'), 'ok');
  assert.equal(run('{{if .Nope}}a{{else if .Name}}b{{else}}c{{end}}'), 'b');
  assert.equal(run('{{with .State}}{{.Status}}{{end}}'), 'running');
  assert.equal(run('{{with .Nope}}x{{else}}y{{end}}'), 'y');
  assert.equal(run('{{with $s := .State.Status}}{{$s}}{{end}}'), 'running');
  assert.equal(run('{{lt 1 2}} {{le 2 2}} {{gt 1 2}} {{ge "b" "a"}} {{not .Name}}'), 'true true false true false');
  assert.equal(run('{{and 1 0}} {{and 1 "x"}} {{or 0 "" "y"}} {{or 0 ""}}'), '0 x y ');
  assert.equal(run('{{if and .State.Running (eq .State.Pid 1234)}}yes{{end}}'), 'yes');
  assert.equal(run('{{if eq .Nope "x"}}a{{else}}b{{end}}'), 'b');
  assert.equal(execErr('{{if eq .Name 1}}{{end}}'), 'template: :1:5: executing "" at <eq .Name 1>: error calling eq: incompatible types for comparison');
});

test('or and and evaluate lazily', () => {
  assert.equal(run('{{or .Name (index .Config.Cmd 99)}}'), '/web');
  assert.equal(run('{{and .Nope (index .Config.Cmd 99)}}'), '<no value>');
});

test("docker's functions: join split lower upper title pad truncate", () => {
  assert.equal(run('{{join .Config.Cmd " "}}'), 'nginx -g daemon off;');
  assert.equal(run('{{join .Config.Labels ","}}'), 'ACME,bar');
  assert.equal(run('{{split .Config.Image ":"}}'), '[nginx latest]');
  assert.equal(run('{{index (split .Config.Image ":") 1}}'), 'latest');
  assert.equal(run('{{upper .Name}} {{lower "ABC"}} {{title "hello world-wide web_x"}}'), '/WEB abc Hello World-Wide Web_x');
  assert.equal(run('[{{pad .Name 2 1}}][{{pad "" 2 2}}]'), '[  /web ][]');
  assert.equal(run('{{truncate .Id 12}}|{{truncate "ab" 5}}'), '4f66ad9a0b2e|ab');
  assert.equal(execErr('{{upper .State.Pid}}'), 'template: :1:2: executing "" at <upper .State.Pid>: error calling upper: wrong type for value; expected string; got int');
  assert.equal(execErr('{{join .Name ","}}'), 'template: :1:2: executing "" at <join .Name ",">: error calling join: expected slice, got string');
});

test('variables, $ and assignment', () => {
  assert.equal(run('{{$x := .Name}}{{$x}}'), '/web');
  assert.equal(run('{{$n := 1}}{{range .Mounts}}{{$n = 2}}{{end}}{{$n}}'), '2');
  assert.equal(run('{{range .Mounts}}{{$.Name}}{{end}}'), '/web/web');
  assert.equal(run('{{with .State}}{{$.Config.Image}}{{end}}'), 'nginx:latest');
});

test('whitespace trimming and comments', () => {
  assert.equal(run('a  {{- .Name -}}  b'), 'a/webb');
  assert.equal(run('{{range .Config.Cmd -}}\n  {{.}}\n{{- end}}'), 'nginx-gdaemon off;');
  assert.equal(run('{{/* a comment */}}x{{- /* trimmed */ -}}  y'), 'xy');
  assert.equal(run('{{-3}}'), '-3');
});

test('literals', () => {
  assert.equal(run('{{"a\\tb"}}|{{`raw\\n`}}|{{\'a\'}}|{{0x10}}|{{1e3}}|{{true}}|{{1.5}}'), 'a\tb|raw\\n|97|16|1000|true|1.5');
});

test('define/template/block', () => {
  assert.equal(run('{{define "m"}}[{{.Source}}]{{end}}{{range .Mounts}}{{template "m" .}}{{end}}'), '[/srv/www][/var/lib/barge/volumes/data/_data]');
  assert.equal(run('{{block "b" .Name}}<{{.}}>{{end}}'), '</web>');
});

test('methods of struct-like objects (docker formatter contexts)', () => {
  class ContainerContext {
    constructor(private readonly labels: Record<string, string>) {}
    ID() { return 'abc'; }
    Label(name: string) { return this.labels[name] ?? ''; }
    get Names() { return 'web'; }
  }
  const c = asStruct(new ContainerContext({ a: 'b' }), '*formatter.ContainerContext');
  assert.equal(run('{{.ID}} {{.Label "a"}} {{.Names}} [{{.Label "x"}}]', c), 'abc b web []');
  assert.equal(run('{{"a" | .Label}}', c), 'b');
  assert.equal(execErr('{{.Foo}}', c), 'template: :1:2: executing "" at <.Foo>: can\'t evaluate field Foo in type *formatter.ContainerContext');
});

test('execution errors are worded like Go', () => {
  assert.equal(execErr('{{.Name.Foo}}'), 'template: :1:2: executing "" at <.Name.Foo>: can\'t evaluate field Foo in type string');
  assert.equal(execErr('x\n {{.State.Health.Status}}'), 'template: :2:3: executing "" at <.State.Health.Status>: nil pointer evaluating interface {}.Status');
  assert.equal(execErr('{{.Config.Labels.foo "x"}}'), 'template: :1:2: executing "" at <.Config.Labels.foo>: foo is not a method but has arguments');
  assert.equal(execErr('{{printf}}'), 'template: :1:2: executing "" at <printf>: wrong number of args for printf: want at least 1 got 0');
  assert.equal(execErr('{{ne 1}}'), 'template: :1:2: executing "" at <ne>: wrong number of args for ne: want 2 got 1');
  assert.equal(execErr('{{"x" 1}}'), 'template: :1:2: executing "" at <"x">: can\'t give argument to non-function "x"');
});

test('partial output is kept on execution errors', () => {
  try { run('ab{{.Name}}{{.Name.X}}'); assert.fail('no error'); } catch (e) {
    assert.equal((e as TemplateError).output, 'ab/web');
  }
});

test('parse errors are worded like Go', () => {
  const perr = (t: string) => { try { parseTemplate(t); } catch (e) { return (e as Error).message; } return 'no error'; };
  assert.equal(perr('{{.Name | foo}}'), 'template: :1: function "foo" not defined');
  assert.equal(perr('{{.Name'), 'template: :1: unclosed action');
  assert.equal(perr('{{if .Name}}x'), 'template: :1: unexpected EOF');
  assert.equal(perr('{{end}}'), 'template: :1: unexpected {{end}}');
  assert.equal(perr('{{if}}{{end}}'), 'template: :1: missing value for if');
  assert.equal(perr('a\n{{$x}}'), 'template: :2: undefined variable "$x"');
  assert.equal(perr('{{.A | "x"}}'), 'template: :1: non executable command in pipeline stage 2');
  assert.equal(perr('{{break}}'), 'template: :1: {{break}} outside {{range}}');
  assert.equal(perr('{{"abc}}'), 'template: :1: unterminated quoted string');
  assert.equal(perr('{{@}}'), "template: :1: unrecognized character in action: U+0040 '@'");
  assert.equal(perr('{{/* x */ }}'), 'template: :1: comment ends before closing delimiter');
});

test('missingkey option and header functions', () => {
  const t = parseTemplate('{{.Missing}}');
  assert.equal(t.execute({}), '<no value>');
  assert.equal(t.execute({ a: 'x' }, { missingKey: 'zero' }), '');
  assert.throws(() => t.execute({}, { missingKey: 'error' }), { message: 'template: :1:2: executing "" at <.Missing>: map has no entry for key "Missing"' });
  const h = parseTemplate('{{.ID | upper}}\t{{json .Labels}}\t{{truncate .Names 3}}');
  assert.equal(h.execute({ ID: 'CONTAINER ID', Labels: 'LABELS', Names: 'NAMES' }, { funcs: headerFuncs }), 'CONTAINER ID\tLABELS\tNAMES');
  assert.equal(executeTemplate('{{greet .}}', 'bob', { funcs: { greet: (s: string) => `hi ${s}` } }), 'hi bob');
});

test('compile once, execute many times', () => {
  const t = parseTemplate('{{.ID}}\t{{.Image}}\t{{if .Up}}Up{{end}}');
  const rows = Array.from({ length: 20000 }, (_, i) => ({ ID: `id${i}`, Image: 'alpine', Up: i % 2 === 0 }));
  const start = process.hrtime.bigint();
  let n = 0;
  for (const r of rows) n += t.execute(r).length;
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  assert.ok(n > 0);
  assert.ok(ms < 1000, `20000 executions took ${ms}ms`);
});
