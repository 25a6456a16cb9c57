/**
 * The frame protocol between the host and polyrun-init (see init/polyrun-init.c for the full description).
 * Pure encoding and an incremental decoder; no I/O.
 */
import { constants as osConstants } from 'node:os';
import { STAGE_SIGNALS, type StageSignal } from '../contract/events.js';

export const FRAME = {
  file: 'F',
  run: 'R',
  /** During a stage: bytes for the program's stdin. */
  stdin: 'I',
  /** During a stage: end of stdin (closed once everything received has been written). */
  closeStdin: 'C',
  /** During a stage: a signal for the stage's process group (payload: decimal signal number). */
  signal: 'S',
  get: 'G',
  list: 'L',
  /** Between stages: remove a file (or an empty directory) of the working dir; answered 'D' or 'N'. */
  unlink: 'U',
  hello: 'H',
  stdout: 'O',
  stderr: 'E',
  exit: 'X',
  data: 'D',
  error: 'N',
} as const;

export interface Frame {
  type: string;
  payload: Buffer;
}

const HEADER = 5;

export function encodeFrame(type: string, payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(HEADER);
  header.write(type, 0, 'latin1');
  header.writeUInt32BE(payload.length, 1);
  return Buffer.concat([header, payload]);
}

/** Bit of an 'F' frame's mode word: replace an existing file of that name (never written through). */
export const FILE_OVERWRITE = 0x8000_0000;

export function encodeFile(name: string, content: Buffer, mode: number, overwrite = false): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(((mode & 0o777) | (overwrite ? FILE_OVERWRITE : 0)) >>> 0, 0);
  return encodeFrame(FRAME.file, Buffer.concat([head, Buffer.from(name + '\0', 'utf8'), content]));
}

/** Remove a file (or an empty directory) of the working dir. */
export function encodeUnlink(name: string): Buffer {
  if (name.includes('\0')) throw new Error('NUL byte in a file name');
  return encodeFrame(FRAME.unlink, Buffer.from(name + '\0', 'utf8'));
}

export interface RunCommand {
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  /** RLIMIT_CPU backstop in seconds (0 = leave). The real CPU limit is enforced from the cgroup. */
  cpuSeconds: number;
  openFiles: number;
  fileSizeBytes: number;
  stackBytes: number;
  /**
   * RLIMIT_NPROC (0 = leave): the stage's process limit, for a backend whose host-side pids controller does
   * not see the program's processes (gVisor: they are tasks of its user-space kernel).
   */
  processes: number;
}

export function encodeRun(cmd: RunCommand): Buffer {
  const env = Object.entries(cmd.env).map(([k, v]) => `${k}=${v}`);
  const fields = [
    String(cmd.cpuSeconds),
    String(cmd.openFiles),
    String(cmd.fileSizeBytes),
    String(cmd.stackBytes),
    String(cmd.processes),
    String(cmd.argv.length),
    ...cmd.argv,
    String(env.length),
    ...env,
    cmd.cwd,
  ];
  for (const f of fields) {
    if (f.includes('\0')) throw new Error('NUL byte in a command field');
  }
  return encodeFrame(FRAME.run, Buffer.from(fields.map((f) => f + '\0').join(''), 'utf8'));
}

/** Largest 'I' payload the host sends; longer input is split over several frames. */
export const MAX_STDIN_FRAME = 1024 * 1024;

/** Stdin for the running stage, as frames of at most `MAX_STDIN_FRAME` bytes (none for empty data). */
export function encodeStdin(data: Buffer): Buffer[] {
  const frames: Buffer[] = [];
  for (let offset = 0; offset < data.length; offset += MAX_STDIN_FRAME) {
    frames.push(encodeFrame(FRAME.stdin, data.subarray(offset, offset + MAX_STDIN_FRAME)));
  }
  return frames;
}

/** End of the running stage's stdin. */
export function encodeCloseStdin(): Buffer {
  return encodeFrame(FRAME.closeStdin);
}

/**
 * Signal numbers of the signals a caller may send to a stage (the same six polyrun-init honours; it ignores
 * any other number).
 */
export const STAGE_SIGNAL_NUMBERS: Readonly<Record<StageSignal, number>> = Object.fromEntries(
  STAGE_SIGNALS.map((name) => [name, osConstants.signals[name]]),
) as Record<StageSignal, number>;

/** A signal for the running stage's process group. */
export function encodeSignal(signal: StageSignal): Buffer {
  const signum = (STAGE_SIGNAL_NUMBERS as Record<string, number | undefined>)[signal];
  if (signum === undefined) throw new Error(`not a stage signal: ${signal}`);
  return encodeFrame(FRAME.signal, Buffer.from(String(signum), 'latin1'));
}

/** Parse an 'X' payload: "code\0signal\0", -1 meaning not applicable. */
export function decodeExit(payload: Buffer): { exitCode: number | null; signal: number | null } {
  const [code, signal] = payload.toString('latin1').split('\0');
  const exitCode = Number(code);
  const sig = Number(signal);
  return { exitCode: exitCode >= 0 ? exitCode : null, signal: sig >= 0 ? sig : null };
}

/** Parse a 'D' payload of a file answer: u32 mode then content. */
export function decodeFileData(payload: Buffer): { mode: number; content: Buffer } {
  return { mode: payload.readUInt32BE(0), content: payload.subarray(4) };
}

/** Incremental frame decoder: feed chunks, get whole frames. */
export class FrameDecoder {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Bytes needed before the next frame is whole; avoids re-concatenating while a large frame streams in. */
  private needed = HEADER;

  push(chunk: Buffer): Frame[] {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    const frames: Frame[] = [];
    if (this.pendingBytes < this.needed) return frames;
    let buf = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
    let offset = 0;
    while (buf.length - offset >= HEADER) {
      const len = buf.readUInt32BE(offset + 1);
      if (buf.length - offset < HEADER + len) {
        this.needed = HEADER + len;
        break;
      }
      frames.push({
        type: String.fromCharCode(buf[offset]!),
        payload: buf.subarray(offset + HEADER, offset + HEADER + len),
      });
      offset += HEADER + len;
    }
    buf = buf.subarray(offset);
    if (buf.length < HEADER) this.needed = HEADER;
    this.pending = buf.length ? [buf] : [];
    this.pendingBytes = buf.length;
    return frames;
  }
}
