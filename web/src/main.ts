/**
 * The playground page: the API key (none when the server has auth off), the runtimes, the tabs, and the
 * keyboard shortcut. Everything it loads and calls is on its own origin.
 */
import '../style.css';
import { Api, ApiError } from './api.js';
import { byId } from './dom.js';
import { createRunTab } from './run-tab.js';
import { decodeSnippet } from './share.js';
import { setUpTabs } from './tabs.js';

const KEY_STORAGE = 'polyrun.apiKey';

const storage = {
  get: (): string | null => {
    try {
      return localStorage.getItem(KEY_STORAGE);
    } catch {
      return null; // storage disabled: the key lives only in the field
    }
  },
  set: (key: string | null): void => {
    try {
      if (key === null) localStorage.removeItem(KEY_STORAGE);
      else localStorage.setItem(KEY_STORAGE, key);
    } catch {
      // storage disabled
    }
  },
};

let key: string | null = null;
const api = new Api(() => key);
const runTab = createRunTab(api);
const tabs = setUpTabs(byId('tabs'), [{ id: 'run', label: 'Run', panel: byId('tab-run') }]);

const keyForm = byId<HTMLFormElement>('key-form');
const keyInput = byId<HTMLInputElement>('api-key');
const keyNote = byId('key-note');
const keySaved = byId('key-saved');

function note(text: string, kind: 'ok' | 'error' | '' = ''): void {
  keyNote.textContent = text;
  keyNote.dataset.kind = kind;
}

/** Show the key field again (the key in use stays until another one works). */
function askForKey(): void {
  keySaved.hidden = true;
  keyForm.hidden = false;
  note('');
  keyInput.select();
  keyInput.focus();
}

/** First without a key: a 200 means auth is off and no key field is needed. */
async function connect(): Promise<void> {
  try {
    runTab.setRuntimes(await api.runtimes(null));
    note('Auth is off: no API key needed');
    return;
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 401) {
      runTab.unavailable(err instanceof ApiError ? err.message : String(err));
      return;
    }
  }
  const saved = storage.get();
  if (saved) {
    keyInput.value = saved;
    await useKey(saved);
  } else {
    runTab.unavailable('Enter your API key above to load the runtimes (make one with: polyrun keys create --tenant NAME).');
    askForKey();
  }
}

/** Try a key: when it works it is kept (and saved); when not, the API's message says why. */
async function useKey(candidate: string): Promise<void> {
  try {
    const list = await api.runtimes(candidate);
    key = candidate;
    storage.set(candidate);
    keyForm.hidden = true;
    keySaved.hidden = false;
    note('API key saved in this browser', 'ok');
    runTab.setRuntimes(list);
  } catch (err) {
    if (keyForm.hidden) askForKey();
    note(err instanceof ApiError ? err.message : String(err), 'error');
    if (!key) runTab.unavailable('Enter a valid API key above to load the runtimes.');
  }
}

keyForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const candidate = keyInput.value.trim();
  if (candidate) void useKey(candidate);
});
byId('key-change').addEventListener('click', askForKey);
byId('key-forget').addEventListener('click', () => {
  storage.set(null);
  key = null;
  keyInput.value = '';
  runTab.unavailable('Enter your API key above to load the runtimes.');
  askForKey();
});

// Ctrl-Enter (Cmd-Enter on a Mac) runs from anywhere on the page; caught before the editor sees it.
window.addEventListener(
  'keydown',
  (e) => {
    if (e.key !== 'Enter' || !(e.ctrlKey || e.metaKey)) return;
    e.preventDefault();
    e.stopPropagation();
    if (tabs.current === 'run') void runTab.run();
  },
  true,
);

const restore = () => {
  const snippet = decodeSnippet(location.hash);
  if (snippet) runTab.restore(snippet);
};
window.addEventListener('hashchange', restore);
restore();
void connect();
