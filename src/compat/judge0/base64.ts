/**
 * Base64 as Judge0 speaks it, pure: out, Ruby's `Base64.encode64` (60-character lines, each ending in a
 * newline); in, lenient like Ruby's `decode64` (characters outside the alphabet are ignored, never an error).
 */

export function rubyEncode64(data: Buffer | string): string {
  const b64 = Buffer.from(data).toString('base64');
  if (b64 === '') return '';
  return b64.replace(/.{1,60}/g, '$&\n');
}

export function lenientDecode64(text: string): Buffer {
  const compact = text.replace(/[^A-Za-z0-9+/]/g, '');
  // Node ignores a dangling sixth bit group the way Ruby's unpack('m') does.
  return Buffer.from(compact, 'base64');
}
