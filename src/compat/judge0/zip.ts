/**
 * Judge0's `additional_files`: a zip archive, read here without touching any filesystem (pure): its
 * regular files become request files, so they go through polyrun's own file checks and are written into
 * the sandbox by polyrun-init like any source file (no follow of a link, nothing outside the box). Bounded
 * in entries and bytes; links, devices, encrypted and ZIP64 entries, unknown compression and names that
 * would leave the working dir are refused; sizes and CRCs are checked.
 */
import { crc32, inflateRawSync } from 'node:zlib';
import { fileNameProblem } from '../../contract/file-names.js';

export interface ZipLimits {
  maxEntries: number;
  /** Uncompressed bytes of all files together (Judge0's MAX_EXTRACT_SIZE is 10240 KB). */
  maxBytes: number;
  maxNameBytes: number;
}

export interface ZipFile {
  name: string;
  content: Buffer;
}

const EOCD = 0x06054b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;

/** The archive's regular files, or why it is refused (a sentence for a 422). */
export function readZip(zip: Buffer, limits: ZipLimits): { files: ZipFile[] } | { problem: string } {
  try {
    return { files: read(zip, limits) };
  } catch (err) {
    return { problem: (err as Error).message };
  }
}

function read(zip: Buffer, limits: ZipLimits): ZipFile[] {
  const eocd = findEocd(zip);
  const count = zip.readUInt16LE(eocd + 10);
  const cdSize = zip.readUInt32LE(eocd + 12);
  const cdOffset = zip.readUInt32LE(eocd + 16);
  if (count === 0xffff || cdOffset === 0xffffffff) throw new Error('ZIP64 archives are not supported');
  if (cdOffset + cdSize > eocd) throw new Error('the central directory is outside the archive');
  if (count > limits.maxEntries) throw new Error(`more than ${limits.maxEntries} entries`);
  const files: ZipFile[] = [];
  let total = 0;
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > zip.length || zip.readUInt32LE(p) !== CENTRAL) throw new Error('a damaged central directory');
    const madeBy = zip.readUInt16LE(p + 4) >> 8;
    const flags = zip.readUInt16LE(p + 8);
    const method = zip.readUInt16LE(p + 10);
    const crc = zip.readUInt32LE(p + 16);
    const compressed = zip.readUInt32LE(p + 20);
    const size = zip.readUInt32LE(p + 24);
    const nameLen = zip.readUInt16LE(p + 28);
    const extraLen = zip.readUInt16LE(p + 30);
    const commentLen = zip.readUInt16LE(p + 32);
    const external = zip.readUInt32LE(p + 38);
    const localOffset = zip.readUInt32LE(p + 42);
    const name = zip.subarray(p + 46, p + 46 + nameLen).toString('utf8');
    p += 46 + nameLen + extraLen + commentLen;

    const mode = madeBy === 3 ? external >>> 16 : 0; // unix attributes only when made on unix
    const isDir = name.endsWith('/') || (mode & S_IFMT) === S_IFDIR;
    if (isDir) continue; // directories come with their files
    if (mode !== 0 && (mode & S_IFMT) !== S_IFREG) throw new Error(`${JSON.stringify(name)} is not a regular file (links are refused)`);
    if (flags & 1) throw new Error(`${JSON.stringify(name)} is encrypted`);
    if (size === 0xffffffff || compressed === 0xffffffff) throw new Error('ZIP64 archives are not supported');
    const problem = fileNameProblem(name, limits.maxNameBytes);
    if (problem) throw new Error(`the name ${JSON.stringify(name)} ${problem}`);
    total += size;
    if (total > limits.maxBytes) throw new Error(`more than ${limits.maxBytes} bytes once extracted`);

    if (localOffset + 30 > zip.length || zip.readUInt32LE(localOffset) !== LOCAL) throw new Error(`a damaged entry ${JSON.stringify(name)}`);
    const dataStart = localOffset + 30 + zip.readUInt16LE(localOffset + 26) + zip.readUInt16LE(localOffset + 28);
    const data = zip.subarray(dataStart, dataStart + compressed);
    if (data.length !== compressed) throw new Error(`a truncated entry ${JSON.stringify(name)}`);
    let content: Buffer;
    if (method === 0) content = Buffer.from(data);
    else if (method === 8) content = inflateRawSync(data, { maxOutputLength: Math.max(1, size) });
    else throw new Error(`${JSON.stringify(name)} uses an unsupported compression method (${method})`);
    if (content.length !== size || crc32(content) !== crc) throw new Error(`${JSON.stringify(name)} does not match its size or CRC`);
    files.push({ name, content });
  }
  return files;
}

function findEocd(zip: Buffer): number {
  // The end record is 22 bytes plus a comment of at most 65535.
  for (let p = zip.length - 22; p >= Math.max(0, zip.length - 22 - 65_535); p--) {
    if (zip.readUInt32LE(p) === EOCD) return p;
  }
  throw new Error('is not a zip archive');
}
