/**
 * A snippet in the URL fragment, for sharing: `#` + base64url of its JSON (UTF-8). Only the fragment
 * carries it, so it never reaches a server log.
 */
export interface Snippet {
  language: string;
  version?: string;
  code: string;
  stdin?: string;
  args?: string[];
}

export function encodeSnippet(snippet: Snippet): string {
  const bytes = new TextEncoder().encode(JSON.stringify(snippet));
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** The snippet in a fragment (with or without its '#'), or null when there is none or it is not one. */
export function decodeSnippet(fragment: string): Snippet | null {
  const text = fragment.replace(/^#/, '');
  if (text === '') return null;
  try {
    const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
    const value: unknown = JSON.parse(new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0))));
    if (typeof value !== 'object' || value === null) return null;
    const v = value as Record<string, unknown>;
    if (typeof v.language !== 'string' || typeof v.code !== 'string') return null;
    return {
      language: v.language,
      code: v.code,
      ...(typeof v.version === 'string' ? { version: v.version } : {}),
      ...(typeof v.stdin === 'string' ? { stdin: v.stdin } : {}),
      ...(Array.isArray(v.args) ? { args: v.args.filter((a): a is string => typeof a === 'string') } : {}),
    };
  } catch {
    return null;
  }
}
