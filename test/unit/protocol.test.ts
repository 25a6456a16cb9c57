import { describe, expect, it } from 'vitest';
import { STAGE_SIGNALS, type StageSignal } from '../../src/contract/events.js';
import {
  FRAME,
  FrameDecoder,
  MAX_STDIN_FRAME,
  STAGE_SIGNAL_NUMBERS,
  decodeExit,
  decodeFileData,
  encodeCloseStdin,
  encodeFile,
  encodeFrame,
  encodeRun,
  encodeSignal,
  encodeStdin,
  type Frame,
  type RunCommand,
} from '../../src/sandbox/protocol.js';

const cmd = (over: Partial<RunCommand> = {}): RunCommand => ({
  argv: ['/usr/bin/python3', '-B', 'main.py'],
  env: { PATH: '/usr/bin', HOME: '/tmp' },
  cwd: '/box',
  cpuSeconds: 4,
  openFiles: 256,
  fileSizeBytes: 1024,
  stackBytes: 65536,
  processes: 0,
  ...over,
});

function sample(): Buffer {
  return Buffer.concat([
    encodeFrame(FRAME.hello),
    encodeFrame(FRAME.stdout, Buffer.from('hello\n')),
    encodeFrame(FRAME.stderr, Buffer.alloc(300, 0x41)),
    encodeFrame(FRAME.data, Buffer.from([0, 0, 1, 0xa4, 0xff, 0x00, 0x10])),
    encodeFrame(FRAME.stdout, Buffer.alloc(0)),
    encodeFrame(FRAME.exit, Buffer.from('0\0-1\0', 'latin1')),
  ]);
}

const simplify = (frames: Frame[]) => frames.map((f) => ({ type: f.type, payload: Buffer.from(f.payload).toString('hex') }));

describe('encodeFrame', () => {
  it('writes type, big-endian length and payload', () => {
    const f = encodeFrame('O', Buffer.from('abc'));
    expect([...f]).toEqual([0x4f, 0, 0, 0, 3, 0x61, 0x62, 0x63]);
    expect([...encodeFrame('H')]).toEqual([0x48, 0, 0, 0, 0]);
    const big = encodeFrame('I', Buffer.alloc(0x01020304 & 0xffff));
    expect(big.readUInt32BE(1)).toBe(0x0304);
  });
});

describe('FrameDecoder', () => {
  it('decodes a whole stream pushed at once', () => {
    const frames = new FrameDecoder().push(sample());
    expect(frames.map((f) => f.type)).toEqual(['H', 'O', 'E', 'D', 'O', 'X']);
    expect(frames[1]!.payload.toString()).toBe('hello\n');
    expect(frames[2]!.payload.length).toBe(300);
    expect(frames[4]!.payload.length).toBe(0);
  });

  it('gives the same frames when the stream is split at every byte boundary', () => {
    const stream = sample();
    const expected = simplify(new FrameDecoder().push(stream));
    for (let cut = 0; cut <= stream.length; cut++) {
      const d = new FrameDecoder();
      const got = [...d.push(stream.subarray(0, cut)), ...d.push(stream.subarray(cut))];
      expect(simplify(got), `cut at ${cut}`).toEqual(expected);
    }
  });

  it('gives the same frames when split at every pair of boundaries', () => {
    const stream = sample().subarray(0, 40);
    const expected = simplify(new FrameDecoder().push(stream));
    for (let a = 0; a <= stream.length; a++) {
      for (let b = a; b <= stream.length; b++) {
        const d = new FrameDecoder();
        const got = [...d.push(stream.subarray(0, a)), ...d.push(stream.subarray(a, b)), ...d.push(stream.subarray(b))];
        expect(simplify(got)).toEqual(expected);
      }
    }
  });

  it('gives the same frames fed one byte at a time', () => {
    const stream = sample();
    const d = new FrameDecoder();
    const got: Frame[] = [];
    for (let i = 0; i < stream.length; i++) got.push(...d.push(stream.subarray(i, i + 1)));
    expect(simplify(got)).toEqual(simplify(new FrameDecoder().push(stream)));
  });

  it('holds a partial frame until it is whole', () => {
    const d = new FrameDecoder();
    const f = encodeFrame('O', Buffer.alloc(100_000, 7));
    expect(d.push(f.subarray(0, 3))).toEqual([]);
    expect(d.push(f.subarray(3, 50_000))).toEqual([]);
    const out = d.push(f.subarray(50_000));
    expect(out).toHaveLength(1);
    expect(out[0]!.payload.equals(Buffer.alloc(100_000, 7))).toBe(true);
    expect(d.push(Buffer.alloc(0))).toEqual([]);
  });

  it('payloads stay intact after more data arrives', () => {
    const d = new FrameDecoder();
    const [first] = d.push(Buffer.concat([encodeFrame('O', Buffer.from('first')), encodeFrame('O', Buffer.from('sec'))]).subarray(0, 12));
    d.push(encodeFrame('O', Buffer.from('x')));
    expect(first!.payload.toString()).toBe('first');
  });
});

describe('encodeRun', () => {
  it('writes NUL-terminated fields in the order polyrun-init parses', () => {
    const frame = new FrameDecoder().push(encodeRun(cmd()))[0]!;
    expect(frame.type).toBe('R');
    const fields = frame.payload.toString('utf8').split('\0');
    expect(fields.pop()).toBe(''); // trailing NUL
    expect(fields).toEqual(['4', '256', '1024', '65536', '0', '3', '/usr/bin/python3', '-B', 'main.py', '2', 'PATH=/usr/bin', 'HOME=/tmp', '/box']);
  });

  it('keeps empty and unicode arguments', () => {
    const frame = new FrameDecoder().push(encodeRun(cmd({ argv: ['./a.out', '', 'ünï'], env: {} })))[0]!;
    const fields = frame.payload.toString('utf8').split('\0');
    expect(fields.slice(5, 11)).toEqual(['3', './a.out', '', 'ünï', '0', '/box']);
  });

  it.each<[string, Partial<RunCommand>]>([
    ['an argument', { argv: ['./a.out', 'x\0y'] }],
    ['the program', { argv: ['\0'] }],
    ['an env value', { env: { A: 'b\0c' } }],
    ['an env name', { env: { 'A\0B': 'c' } }],
    ['the cwd', { cwd: '/box\0/etc' }],
  ])('refuses a NUL byte in %s', (_, over) => {
    expect(() => encodeRun(cmd(over))).toThrow(/NUL/);
  });
});

describe('encodeFile / decoders', () => {
  it('encodes mode (permission bits only), NUL-terminated name and content', () => {
    const frame = new FrameDecoder().push(encodeFile('dir/main.c', Buffer.from('int x;'), 0o104755))[0]!;
    expect(frame.type).toBe('F');
    expect(frame.payload.readUInt32BE(0)).toBe(0o755);
    expect(frame.payload.subarray(4).toString()).toBe('dir/main.c\0int x;');
  });

  it('decodes exit frames', () => {
    expect(decodeExit(Buffer.from('0\0-1\0'))).toEqual({ exitCode: 0, signal: null });
    expect(decodeExit(Buffer.from('3\0-1\0'))).toEqual({ exitCode: 3, signal: null });
    expect(decodeExit(Buffer.from('-1\x009\0'))).toEqual({ exitCode: null, signal: 9 });
  });

  it('decodes file data', () => {
    const d = decodeFileData(Buffer.from([0, 0, 1, 0xed, 0x61, 0x62]));
    expect(d.mode).toBe(0o755);
    expect(d.content.toString()).toBe('ab');
  });
});

describe('stage frames: stdin, end of stdin, signal', () => {
  it('has one distinct type letter per frame', () => {
    const letters = Object.values(FRAME);
    expect(new Set(letters).size).toBe(letters.length);
    expect(FRAME).toMatchObject({ stdin: 'I', closeStdin: 'C', signal: 'S', run: 'R' });
  });

  it('encodes stdin as I frames of at most MAX_STDIN_FRAME bytes, in order', () => {
    const data = Buffer.alloc(2 * MAX_STDIN_FRAME + 10);
    for (let i = 0; i < data.length; i++) data[i] = i & 0xff;
    const frames = encodeStdin(data).flatMap((f) => new FrameDecoder().push(f));
    expect(frames.map((f) => [f.type, f.payload.length])).toEqual([
      ['I', MAX_STDIN_FRAME],
      ['I', MAX_STDIN_FRAME],
      ['I', 10],
    ]);
    expect(Buffer.concat(frames.map((f) => f.payload)).equals(data)).toBe(true);
    expect(encodeStdin(Buffer.from('x')).map((f) => [...f])).toEqual([[0x49, 0, 0, 0, 1, 0x78]]);
  });

  it('sends no frame for empty stdin', () => {
    expect(encodeStdin(Buffer.alloc(0))).toEqual([]);
  });

  it('encodes end of stdin as an empty C frame', () => {
    expect([...encodeCloseStdin()]).toEqual([0x43, 0, 0, 0, 0]);
  });

  it('encodes a signal as S with the decimal signal number', () => {
    expect([...encodeSignal('SIGINT')]).toEqual([0x53, 0, 0, 0, 1, 0x32]);
    const numbers = Object.fromEntries(
      STAGE_SIGNALS.map((name) => [name, new FrameDecoder().push(encodeSignal(name))[0]!.payload.toString('latin1')]),
    );
    // Linux numbers; polyrun-init honours exactly these
    expect(numbers).toEqual({ SIGINT: '2', SIGTERM: '15', SIGKILL: '9', SIGQUIT: '3', SIGUSR1: '10', SIGUSR2: '12' });
    expect(Object.keys(STAGE_SIGNAL_NUMBERS).sort()).toEqual([...STAGE_SIGNALS].sort());
  });

  it('refuses a signal that is not a stage signal', () => {
    for (const name of ['SIGSTOP', 'SIGHUP', '9', '', 'SIGKILL ']) {
      expect(() => encodeSignal(name as StageSignal), name).toThrow(/not a stage signal/);
    }
  });
});

describe('file frames of sessions', () => {
  it('sets the overwrite bit of the mode word only when asked', async () => {
    const { FILE_OVERWRITE, encodeUnlink } = await import('../../src/sandbox/protocol.js');
    const plain = new FrameDecoder().push(encodeFile('a.txt', Buffer.from('x'), 0o644))[0]!;
    const over = new FrameDecoder().push(encodeFile('a.txt', Buffer.from('x'), 0o644, true))[0]!;
    expect(plain.payload.readUInt32BE(0)).toBe(0o644);
    expect(over.payload.readUInt32BE(0)).toBe((0o644 | FILE_OVERWRITE) >>> 0);
    expect(over.payload.subarray(4).toString()).toBe('a.txt\0x');
    const unlink = new FrameDecoder().push(encodeUnlink('d/b'))[0]!;
    expect(unlink).toEqual({ type: FRAME.unlink, payload: Buffer.from('d/b\0') });
    expect(() => encodeUnlink('a\0b')).toThrow();
  });
});
