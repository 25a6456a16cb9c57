/**
 * The page's modes as tabs. Today there is one (Run), so no tab bar is shown; a mode is added by giving
 * it a panel in index.html and an entry in main.ts's list (a judge mode will be one, once the judge API
 * exists). The tab bar follows the WAI-ARIA tabs pattern: arrow keys move between tabs.
 */
export interface TabSpec {
  id: string;
  label: string;
  panel: HTMLElement;
}

export interface Tabs {
  readonly current: string;
}

export function setUpTabs(bar: HTMLElement, specs: TabSpec[]): Tabs {
  let current = specs[0]?.id ?? '';
  const buttons = specs.map((spec) => {
    const button = document.createElement('button');
    button.type = 'button';
    button.id = `tab-button-${spec.id}`;
    button.setAttribute('role', 'tab');
    button.setAttribute('aria-controls', spec.panel.id);
    button.textContent = spec.label;
    button.addEventListener('click', () => select(spec.id));
    spec.panel.setAttribute('role', 'tabpanel');
    spec.panel.setAttribute('aria-labelledby', button.id);
    return button;
  });

  function select(id: string): void {
    current = id;
    specs.forEach((spec, i) => {
      const on = spec.id === id;
      spec.panel.hidden = !on;
      buttons[i]!.setAttribute('aria-selected', String(on));
      buttons[i]!.tabIndex = on ? 0 : -1;
    });
  }

  bar.setAttribute('role', 'tablist');
  bar.replaceChildren(...buttons);
  bar.hidden = specs.length < 2;
  bar.addEventListener('keydown', (e) => {
    const at = specs.findIndex((s) => s.id === current);
    const step = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0;
    if (step === 0) return;
    const next = (at + step + specs.length) % specs.length;
    select(specs[next]!.id);
    buttons[next]!.focus();
  });
  select(current);
  return {
    get current() {
      return current;
    },
  };
}
