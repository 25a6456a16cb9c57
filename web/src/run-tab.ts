/**
 * The Run tab: pick a runtime and version, edit code, give stdin, arguments and limits, run it and watch
 * the output stream in. Its markup is #tab-run in index.html.
 */
import starters from 'virtual:starters';
import { type Api, ApiError, type ExecuteBody, type Limits, type RuntimeInfo } from './api.js';
import { byId } from './dom.js';
import { createEditor } from './editor.js';
import { displayName } from './languages.js';
import { OutputView } from './output.js';
import { encodeSnippet, type Snippet } from './share.js';

const MiB = 1024 * 1024;

/** The three limit fields: the API field, its input, and the unit the input is in. */
const LIMIT_FIELDS = [
  { key: 'cpuTimeMs', id: 'limit-cpu', unit: 1, suffix: 'ms' },
  { key: 'wallTimeMs', id: 'limit-wall', unit: 1, suffix: 'ms' },
  { key: 'memoryBytes', id: 'limit-memory', unit: MiB, suffix: 'MiB' },
] as const;

export interface RunTab {
  setRuntimes(list: RuntimeInfo[]): void;
  /** Without runtimes (no key yet, or an error): say why in the output pane. */
  unavailable(message: string): void;
  /** Load a snippet; kept until the runtimes are known. */
  restore(snippet: Snippet): void;
  run(): Promise<void>;
}

export function createRunTab(api: Api): RunTab {
  const language = byId<HTMLSelectElement>('language');
  const version = byId<HTMLSelectElement>('version');
  const runButton = byId<HTMLButtonElement>('run');
  const shareButton = byId<HTMLButtonElement>('share');
  const shareNote = byId('share-note');
  const stdin = byId<HTMLTextAreaElement>('stdin');
  const args = byId<HTMLTextAreaElement>('args');
  const editor = createEditor(byId('editor'), 'Source code');
  const output = new OutputView(byId('output'), byId('status'), byId('summary'));

  /** name -> its entries, newest version first */
  let runtimes = new Map<string, RuntimeInfo[]>();
  /** Code per language while switching between them. */
  const drafts = new Map<string, string>();
  let current = '';
  let pending: Snippet | null = null;
  let running: AbortController | null = null;

  function entry(): RuntimeInfo | undefined {
    const versions = runtimes.get(current) ?? [];
    return versions.find((r) => r.version === version.value) ?? versions[0];
  }

  function selectLanguage(name: string, code?: string, wantedVersion?: string): void {
    if (current) drafts.set(current, editor.code);
    current = name;
    language.value = name;
    const versions = runtimes.get(name) ?? [];
    version.replaceChildren(...versions.map((r) => new Option(r.version, r.version)));
    if (wantedVersion && versions.some((r) => r.version === wantedVersion)) version.value = wantedVersion;
    version.disabled = versions.length < 2;
    editor.setCode(code ?? drafts.get(name) ?? starters[name] ?? '');
    void editor.setLanguage(name);
    showLimits();
  }

  /** Placeholders are the defaults, `max` and the hint the tenant's ceiling for this runtime. */
  function showLimits(): void {
    const limits = entry()?.limits;
    for (const f of LIMIT_FIELDS) {
      const input = byId<HTMLInputElement>(f.id);
      const def = limits?.defaults.run[f.key];
      const max = limits?.maximum.run[f.key];
      input.placeholder = def === undefined ? '' : String(Math.floor(def / f.unit));
      input.max = max === undefined ? '' : String(Math.floor(max / f.unit));
      byId(`${f.id}-max`).textContent = max === undefined ? '' : `max ${Math.floor(max / f.unit).toLocaleString('en')} ${f.suffix}`;
      clamp(input);
    }
  }

  /** A limit input brought within 1..max (empty means the runtime's default). */
  function clamp(input: HTMLInputElement): void {
    if (input.value.trim() === '') return;
    let value = Math.floor(Number(input.value));
    if (!Number.isFinite(value) || value < 1) value = 1;
    if (input.max !== '' && value > Number(input.max)) value = Number(input.max);
    input.value = String(value);
  }

  function limits(): Limits | undefined {
    const out: Limits = {};
    for (const f of LIMIT_FIELDS) {
      const input = byId<HTMLInputElement>(f.id);
      clamp(input);
      if (input.value !== '') out[f.key] = Number(input.value) * f.unit;
    }
    return Object.keys(out).length > 0 ? out : undefined;
  }

  function argList(): string[] {
    return args.value.split('\n').filter((a) => a !== '');
  }

  function snippet(): Snippet {
    const list = argList();
    return {
      language: current,
      version: version.value,
      code: editor.code,
      ...(stdin.value ? { stdin: stdin.value } : {}),
      ...(list.length ? { args: list } : {}),
    };
  }

  function apply(s: Snippet): void {
    if (!runtimes.has(s.language)) {
      output.placeholder(`This link is for ${s.language}, which this server does not offer.`);
      return;
    }
    selectLanguage(s.language, s.code, s.version);
    stdin.value = s.stdin ?? '';
    args.value = (s.args ?? []).join('\n');
  }

  /** The snippet goes in the address bar (replacing the entry, so Back still leaves the page). */
  function putInUrl(): string {
    const url = `${location.pathname}${location.search}#${encodeSnippet(snippet())}`;
    history.replaceState(null, '', url);
    return location.href;
  }

  function setRunning(on: boolean): void {
    runButton.classList.toggle('stop', on);
    runButton.querySelector('.label')!.textContent = on ? 'Stop' : 'Run';
    runButton.setAttribute('aria-label', on ? 'Stop the program' : 'Run (Ctrl+Enter)');
  }

  async function run(): Promise<void> {
    if (running || !current) return;
    const body: ExecuteBody = { language: current, version: version.value, files: [{ content: editor.code }] };
    if (stdin.value) body.stdin = stdin.value;
    const list = argList();
    if (list.length) body.args = list;
    const l = limits();
    if (l) body.limits = l;
    putInUrl();

    const controller = new AbortController();
    running = controller;
    setRunning(true);
    output.start();
    try {
      const result = await api.execute(
        body,
        (event) => {
          if (event.type === 'stage') output.stage(event.stage);
          else if (event.type === 'stdout' || event.type === 'stderr') output.chunk(event.stage, event.type, event.data);
          else if (event.type === 'exit') output.exit(event.stage, event.result);
        },
        controller.signal,
      );
      output.result(result);
    } catch (err) {
      output.error(err instanceof ApiError ? err : new ApiError('INTERNAL', String(err)));
    } finally {
      running = null;
      setRunning(false);
    }
  }

  language.addEventListener('change', () => selectLanguage(language.value));
  version.addEventListener('change', showLimits);
  for (const f of LIMIT_FIELDS) byId<HTMLInputElement>(f.id).addEventListener('change', (e) => clamp(e.target as HTMLInputElement));
  runButton.addEventListener('click', () => (running ? running.abort() : void run()));
  shareButton.addEventListener('click', async () => {
    if (!current) return;
    const url = putInUrl();
    try {
      await navigator.clipboard.writeText(url);
      shareNote.textContent = 'Link copied';
    } catch {
      shareNote.textContent = 'Link is in the address bar';
    }
    setTimeout(() => (shareNote.textContent = ''), 4000);
  });

  return {
    setRuntimes(list) {
      runtimes = new Map();
      for (const r of list) runtimes.set(r.name, [...(runtimes.get(r.name) ?? []), r]);
      for (const versions of runtimes.values()) versions.sort((a, b) => b.version.localeCompare(a.version, 'en', { numeric: true }));
      language.replaceChildren(...[...runtimes.keys()].map((name) => new Option(displayName(name), name)));
      const usable = runtimes.size > 0;
      for (const control of [language, runButton, shareButton]) control.disabled = !usable;
      if (!usable) {
        output.placeholder('No runtime is available to this key.');
        return;
      }
      output.placeholder('Press Run (or Ctrl+Enter) to run the program.');
      selectLanguage(runtimes.has(current) ? current : runtimes.has('python') ? 'python' : runtimes.keys().next().value!);
      if (pending) apply(pending);
      pending = null;
    },
    unavailable(message) {
      runtimes = new Map();
      language.replaceChildren(new Option('—', ''));
      version.replaceChildren();
      for (const control of [language, version, runButton, shareButton]) control.disabled = true;
      output.placeholder(message);
    },
    restore(s) {
      if (runtimes.size > 0) apply(s);
      else pending = s;
    },
    run,
  };
}
