/** The code editor: CodeMirror 6 with its basic setup, Tab indenting, and a swappable syntax mode. */
import { indentWithTab } from '@codemirror/commands';
import { Compartment, EditorState } from '@codemirror/state';
import { EditorView, keymap } from '@codemirror/view';
import { basicSetup } from 'codemirror';
import { languageMode } from './languages.js';

export interface CodeEditor {
  readonly code: string;
  setCode(code: string): void;
  /** Switch the syntax mode (loaded on first use); the latest call wins. */
  setLanguage(runtime: string): Promise<void>;
  focus(): void;
}

export function createEditor(parent: HTMLElement, label: string): CodeEditor {
  const mode = new Compartment();
  const view = new EditorView({
    parent,
    state: EditorState.create({
      extensions: [
        basicSetup,
        // Tab indents; Escape then Tab leaves the editor (CodeMirror's own escape hatch for keyboard users).
        keymap.of([indentWithTab]),
        mode.of([]),
        EditorView.contentAttributes.of({ 'aria-label': label }),
      ],
    }),
  });
  let wanted = '';
  return {
    get code() {
      return view.state.doc.toString();
    },
    setCode(code) {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: code }, selection: { anchor: 0 } });
    },
    async setLanguage(runtime) {
      wanted = runtime;
      const extension = await languageMode(runtime);
      if (wanted === runtime) view.dispatch({ effects: mode.reconfigure(extension) });
    },
    focus: () => view.focus(),
  };
}
