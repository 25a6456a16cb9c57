/** Kernels, the pure parts: the end-marker scanner, the reply parser, the cell status rule, the table. */
import { describe, expect, it } from 'vitest';
import { MarkerScanner } from '../../src/kernels/marker.js';
import { cellStatus, parseReply } from '../../src/kernels/contract.js';
import { KERNELS, kernelArgv, kernelFor } from '../../src/kernels/kernels.js';

const b = (s: string) => Buffer.from(s, 'utf8');

describe('MarkerScanner', () => {
  it('passes output through until the marker, then reads the reply line', () => {
    const s = new MarkerScanner('abc');
    expect(s.push(b('hello\n')).toString()).toBe('hello\n');
    expect(s.push(b('more\x1eabc {"count":1}\nlater')).toString()).toBe('more');
    expect(s.complete).toBe(true);
    expect(s.reply).toBe(' {"count":1}');
    expect(s.push(b('after the end')).length).toBe(0);
  });

  it('holds back a possible start of the marker split across chunks, and releases it when it is not one', () => {
    const s = new MarkerScanner('abc');
    expect(s.push(b('x\x1ea')).toString()).toBe('x');
    expect(s.push(b('bz')).toString()).toBe('\x1eabz'); // not the marker after all
    expect(s.push(b('\x1e')).toString()).toBe('');
    expect(s.push(b('ab')).toString()).toBe('');
    expect(s.push(b('c {"count":2}')).toString()).toBe('');
    expect(s.complete).toBe(false); // no newline yet
    expect(s.push(b('\n')).toString()).toBe('');
    expect(s.reply).toBe(' {"count":2}');
  });

  it("ignores another cell's marker: only the host's random id ends a cell", () => {
    const s = new MarkerScanner('right');
    expect(s.push(b('\x1ewrong {"count":9}\n')).toString()).toBe('\x1ewrong {"count":9}\n');
    expect(s.complete).toBe(false);
  });
});

describe('cell status and replies', () => {
  const base = { interrupted: null, kernelDied: false, oomKilled: false, raised: false } as const;
  it('orders the reasons: memory, the host interrupt, then what the code did', () => {
    expect(cellStatus(base)).toBe('ok');
    expect(cellStatus({ ...base, raised: true })).toBe('runtime_error');
    expect(cellStatus({ ...base, kernelDied: true })).toBe('runtime_error');
    expect(cellStatus({ ...base, interrupted: 'time', raised: true })).toBe('time_limit');
    expect(cellStatus({ ...base, interrupted: 'output', kernelDied: true })).toBe('output_limit');
    expect(cellStatus({ ...base, interrupted: 'time', oomKilled: true, kernelDied: true })).toBe('memory_limit');
    expect(cellStatus({ ...base, interrupted: 'aborted' })).toBe('internal_error');
  });

  it('accepts a well-formed reply only', () => {
    expect(parseReply(' {"count": 2, "value": "3", "error": null}')).toEqual({ count: 2, value: '3', error: null });
    expect(parseReply('{"count":1,"value":null,"error":{"name":"E","message":"m","traceback":"t"}}')?.error).toEqual({ name: 'E', message: 'm', traceback: 't' });
    expect(parseReply('not json')).toBeNull();
    expect(parseReply('{"value":"x"}')).toBeNull();
  });
});

describe('kernel table', () => {
  it('has a driver for each kernel, passed on the command line', () => {
    for (const k of KERNELS) {
      const argv = kernelArgv(k);
      expect(argv.some((a) => a.includes('cell'))).toBe(true);
      expect(argv).not.toContain('{driver}');
    }
    expect(kernelFor('python')?.language).toBe('python');
    expect(kernelFor('cobol')).toBeUndefined();
  });
});
