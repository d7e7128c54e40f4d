import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatFloat, sprintf, sprint, sprintln, goQuote, formatValue, goJSON, NO_VALUE, asStruct, asMap,
  parseIntBig, parseBool, parseFloat64, atoi, parseUint, parseDuration, durationString, goTimeString, typeName,
} from '../../src/cli/lib/gofmt.js';

test('formatFloat: %v/%g shortest uses exponent from 1e+06 up, as fmt.Println', () => {
  assert.equal(formatFloat(1e6, 'g'), '1e+06');
  assert.equal(formatFloat(123456, 'g'), '123456');
  assert.equal(formatFloat(1234567, 'g'), '1.234567e+06');
  assert.equal(formatFloat(0.0001, 'g'), '0.0001');
  assert.equal(formatFloat(0.00001, 'g'), '1e-05');
  assert.equal(formatFloat(1.5, 'g'), '1.5');
  assert.equal(formatFloat(0, 'g'), '0');
  assert.equal(formatFloat(-2.25, 'g'), '-2.25');
  assert.equal(formatFloat(Infinity, 'g'), '+Inf');
  assert.equal(formatFloat(NaN, 'g'), 'NaN');
});

test('formatFloat: fixed precision rounds half to even on the exact binary value', () => {
  assert.equal(formatFloat(999.999, 'g', 3), '1e+03');
  assert.equal(formatFloat(1.23456, 'g', 3), '1.23');
  assert.equal(formatFloat(100, 'g', 3), '100');
  assert.equal(formatFloat(1.5, 'g', 3), '1.5');
  assert.equal(formatFloat(2.0625, 'g', 4), '2.062');
  assert.equal(formatFloat(0.125, 'f', 2), '0.12');
  assert.equal(formatFloat(0.375, 'f', 2), '0.38');
  assert.equal(formatFloat(2.5, 'f', 0), '2');
  assert.equal(formatFloat(3.5, 'f', 0), '4');
  assert.equal(formatFloat(12.345, 'f', 2), '12.35'); // 12.3450000000000006...
  assert.equal(formatFloat(1234.5678, 'e', 3), '1.235e+03');
  assert.equal(formatFloat(3.14159, 'f', 6), '3.141590');
  assert.equal(formatFloat(0, 'e', 6), '0.000000e+00');
  assert.equal(formatFloat(5e-324, 'e', 2), '4.94e-324');
});

test('sprintf: verbs, flags, widths and Go error markers', () => {
  assert.equal(sprintf('%5.2f|%-5d|%05d|%x|%#x|%X', [3.14159, 42, -42, 255, 255, 255]), ' 3.14|42   |-0042|ff|0xff|FF');
  assert.equal(sprintf('%s %q %v %t %c %U %%', ['a', 'a"b', [1, 'x'], true, 65, 0x1f600]), 'a "a\\"b" [1 x] true A U+1F600 %');
  assert.equal(sprintf('%.3s|%8s|%-8s|', ['abcdef', 'ab', 'ab']), 'abc|      ab|ab      |');
  assert.equal(sprintf('%d', ['abc']), '%!d(string=abc)');
  assert.equal(sprintf('%s', [5]), '%!s(int=5)');
  assert.equal(sprintf('%s', [null]), '%!s(<nil>)');
  assert.equal(sprintf('%s %s', ['a']), 'a %!s(MISSING)');
  assert.equal(sprintf('a', [1, 'x']), 'a%!(EXTRA int=1, string=x)');
  assert.equal(sprintf('%s', [['a', 'b']]), '[a b]');
  assert.equal(sprintf('%d', [1.5]), '%!d(float64=1.5)');
  assert.equal(sprintf('%6.2f%%', [7]), '  7.00%');
  assert.equal(sprintf('%+d % d', [5, 5]), '+5  5');
  assert.equal(sprintf('%*d', [4, 7]), '   7');
  assert.equal(sprintf('%x', ['hi']), '6869');
  assert.equal(sprintf('%v', [{ a: 1 }]), 'map[a:1]');
  assert.equal(sprintf('%z', [1]), '%!z(int=1)');
});

test('sprint and sprintln space operands as Go', () => {
  assert.equal(sprint(['a', 1, 2, 'b']), 'a1 2b');
  assert.equal(sprintln(['a', 1]), 'a 1\n');
});

test('goQuote is strconv.Quote', () => {
  assert.equal(goQuote('a\tb\n'), '"a\\tb\\n"');
  assert.equal(goQuote('\x01\x7f'), '"\\x01\\x7f"');
  assert.equal(goQuote('é…'), '"é…"');
  assert.equal(goQuote('\u200b'), '"\\u200b"');
  assert.equal(goQuote('\\"'), '"\\\\\\""');
});

test('formatValue: Go default formatting', () => {
  assert.equal(formatValue({ b: 'x', a: 'y' }), 'map[a:y b:x]');
  assert.equal(formatValue(new Map([['z', 1], ['a', 2]])), 'map[a:2 z:1]');
  assert.equal(formatValue(['a', 'b']), '[a b]');
  assert.equal(formatValue([]), '[]');
  assert.equal(formatValue(null), '<nil>');
  assert.equal(formatValue(NO_VALUE), '<no value>');
  assert.equal(formatValue(true), 'true');
  assert.equal(formatValue(12345678), '12345678');
  assert.equal(formatValue(0.5), '0.5');
  assert.equal(formatValue({ Status: 'running', Pid: 12, Health: null }), '{running 12 <nil>}');
  assert.equal(formatValue({ Status: 'running', Pid: 12 }, true), '{Status:running Pid:12}');
  assert.equal(formatValue(asMap({ Status: 'x' })), 'map[Status:x]');
  assert.equal(formatValue(asStruct({ b: 1, a: 2 })), '{1 2}');
});

test('typeName approximates %T', () => {
  assert.equal(typeName('x'), 'string');
  assert.equal(typeName(1), 'int');
  assert.equal(typeName(1.5), 'float64');
  assert.equal(typeName(['a']), '[]string');
  assert.equal(typeName({ a: 'b' }), 'map[string]string');
  assert.equal(typeName(asStruct({}, '*formatter.ContainerContext')), '*formatter.ContainerContext');
  class Thing {}
  assert.equal(typeName(new Thing()), 'Thing');
});

test('goJSON: Go encoding/json output', () => {
  assert.equal(goJSON({ b: 1, a: [1, 'x', null], c: { z: true } }), '{"a":[1,"x",null],"b":1,"c":{"z":true}}');
  assert.equal(goJSON({ Id: 'x', State: { Status: 's', Running: true } }), '{"Id":"x","State":{"Status":"s","Running":true}}');
  assert.equal(goJSON('<a&b>'), '"\\u003ca\\u0026b\\u003e"');
  assert.equal(goJSON('<a&b>', { escapeHTML: false }), '"<a&b>"');
  assert.equal(goJSON('\u2028\x01\b'), '"\\u2028\\u0001\\b"');
  assert.equal(goJSON({ a: undefined, b: 1.5, c: 1e21 }), '{"b":1.5,"c":1e+21}');
  assert.equal(goJSON(new Uint8Array([1, 2])), '"AQI="');
  assert.equal(goJSON({ A: { B: 1 }, C: [] }, { indent: '    ' }), '{\n    "A": {\n        "B": 1\n    },\n    "C": []\n}');
  assert.throws(() => goJSON(NaN), /json: unsupported value: NaN/);
});

test('strconv parsers and their errors', () => {
  assert.equal(parseIntBig('0x1f', 0), 31n);
  assert.equal(parseIntBig('0o17', 0), 15n);
  assert.equal(parseIntBig('017', 0), 15n);
  assert.equal(parseIntBig('1_000', 0), 1000n);
  assert.equal(parseIntBig('-9223372036854775808', 10), -9223372036854775808n);
  assert.throws(() => parseIntBig('abc', 0), { message: 'strconv.ParseInt: parsing "abc": invalid syntax' });
  assert.throws(() => parseIntBig('9223372036854775808', 10), { message: 'strconv.ParseInt: parsing "9223372036854775808": value out of range' });
  assert.throws(() => parseIntBig('1_000', 10), /invalid syntax/);
  assert.throws(() => atoi('x'), { message: 'strconv.Atoi: parsing "x": invalid syntax' });
  assert.equal(parseUint('1770', 8, 32), 0o1770);
  assert.equal(parseBool('T'), true);
  assert.equal(parseBool('False'), false);
  assert.throws(() => parseBool('yes'), { message: 'strconv.ParseBool: parsing "yes": invalid syntax' });
  assert.equal(parseFloat64('1e3'), 1000);
  assert.equal(parseFloat64('.5'), 0.5);
  assert.equal(parseFloat64('0.'), 0);
  assert.equal(parseFloat64('-Inf'), -Infinity);
  assert.equal(parseFloat64('0x1p-2'), 0.25);
  assert.throws(() => parseFloat64('1.2.3'), { message: 'strconv.ParseFloat: parsing "1.2.3": invalid syntax' });
  assert.throws(() => parseFloat64(''), /invalid syntax/);
});

test('time.ParseDuration and Duration.String', () => {
  assert.equal(parseDuration('10s'), 10e9);
  assert.equal(parseDuration('1m30s'), 90e9);
  assert.equal(parseDuration('1h'), 3600e9);
  assert.equal(parseDuration('500ms'), 500e6);
  assert.equal(parseDuration('1.5h'), 5400e9);
  assert.equal(parseDuration('-1s'), -1e9);
  assert.equal(parseDuration('0'), 0);
  assert.equal(parseDuration('2µs'), 2000);
  assert.equal(parseDuration('.5s'), 5e8);
  assert.throws(() => parseDuration('abc'), { message: 'time: invalid duration "abc"' });
  assert.throws(() => parseDuration('10'), { message: 'time: missing unit in duration "10"' });
  assert.throws(() => parseDuration('10x'), { message: 'time: unknown unit "x" in duration "10x"' });
  assert.throws(() => parseDuration(''), { message: 'time: invalid duration ""' });
  assert.throws(() => parseDuration('.s'), /invalid duration/);
  assert.equal(durationString(0), '0s');
  assert.equal(durationString(90e9), '1m30s');
  assert.equal(durationString(3600e9), '1h0m0s');
  assert.equal(durationString(1.5e6), '1.5ms');
  assert.equal(durationString(2000), '2µs');
  assert.equal(durationString(999), '999ns');
  assert.equal(durationString(-1.5e9), '-1.5s');
  assert.equal(durationString(3723.5e9), '1h2m3.5s');
});

test('goTimeString is time.Time.String()', () => {
  const d = new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 120));
  assert.equal(goTimeString(d, true), '2024-01-02 03:04:05.12 +0000 UTC');
  assert.equal(goTimeString(new Date(Date.UTC(2024, 0, 2, 3, 4, 5)), true), '2024-01-02 03:04:05 +0000 UTC');
  assert.match(goTimeString(d), /^2024-01-0[12] \d\d:\d\d:05\.12 [+-]\d{4} \S+$/);
});
