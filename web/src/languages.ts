/**
 * Syntax modes for the editor, per runtime name, each loaded on first use (its own chunk). Runtimes not
 * listed here are edited as plain text.
 */
import { StreamLanguage, type StreamParser } from '@codemirror/language';
import type { Extension } from '@codemirror/state';

const legacy = async (load: () => Promise<StreamParser<unknown>>): Promise<Extension> => StreamLanguage.define(await load());
const cpp = async () => (await import('@codemirror/lang-cpp')).cpp();

const modes: Record<string, () => Promise<Extension>> = {
  python: async () => (await import('@codemirror/lang-python')).python(),
  javascript: async () => (await import('@codemirror/lang-javascript')).javascript(),
  typescript: async () => (await import('@codemirror/lang-javascript')).javascript({ typescript: true }),
  c: cpp,
  'c++': cpp,
  java: async () => (await import('@codemirror/lang-java')).java(),
  rust: async () => (await import('@codemirror/lang-rust')).rust(),
  go: async () => (await import('@codemirror/lang-go')).go(),
  php: async () => (await import('@codemirror/lang-php')).php(),
  csharp: () => legacy(async () => (await import('@codemirror/legacy-modes/mode/clike')).csharp),
  ruby: () => legacy(async () => (await import('@codemirror/legacy-modes/mode/ruby')).ruby),
  perl: () => legacy(async () => (await import('@codemirror/legacy-modes/mode/perl')).perl),
  lua: () => legacy(async () => (await import('@codemirror/legacy-modes/mode/lua')).lua),
  bash: () => legacy(async () => (await import('@codemirror/legacy-modes/mode/shell')).shell),
};

/** The syntax mode of a runtime, or none (plain text). */
export async function languageMode(runtime: string): Promise<Extension> {
  const load = modes[runtime];
  return load ? load() : [];
}

const names: Record<string, string> = {
  javascript: 'JavaScript',
  typescript: 'TypeScript',
  'c++': 'C++',
  csharp: 'C#',
  php: 'PHP',
};

/** How a runtime is named in the picker: "Python", "C++", "C#". */
export function displayName(runtime: string): string {
  return names[runtime] ?? runtime.charAt(0).toUpperCase() + runtime.slice(1);
}
