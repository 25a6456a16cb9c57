/**
 * The playground (web/, served at /) in a real browser: headless Chromium (Debian's, installed by
 * `scripts/setup --test`) driven by playwright-core, against a real polyrun with real sandboxes and auth
 * on. One browser context for the whole file, like one visitor: the key typed in the first test stays in
 * its localStorage, and every request the pages make is recorded to prove none leaves the origin.
 * Takes a screenshot of a finished run; with UPDATE_SCREENSHOT=1 it is written to docs/playground.png (the
 * README's picture), otherwise to a temp file, so a test run does not leave the work tree changed.
 */
import { existsSync, rmSync } from 'node:fs';
import Fastify from 'fastify';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendError } from '../../src/api/errors.js';
import { playgroundRoutes } from '../../src/api/routes/playground.js';
import { createExecutor, type SandboxExecutor } from '../../src/executor/executor.js';
import { projectPath } from '../../src/project.js';
import { makeTestApp, tempDir, type TestApp } from '../helpers/app.js';

const SCREENSHOT = process.env.UPDATE_SCREENSHOT === '1' ? projectPath('docs', 'playground.png') : `${tempDir('polyrun-shot-')}/playground.png`;

const CHROMIUM = '/usr/bin/chromium';
const dataDir = tempDir('polyrun-playground-');
let executor: SandboxExecutor;
let t: TestApp;
let base: string;
let browser: Browser;
let context: BrowserContext;
const requested: string[] = [];
const pageErrors: string[] = [];
/** Origins of the polyrun apps this file serves (the page may call only these). */
const ours = new Set<string>();

beforeAll(async () => {
  if (!existsSync(projectPath('build', 'web', 'index.html'))) throw new Error('build/web is missing: run scripts/setup');
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/setup --test`);
  [executor, browser] = await Promise.all([
    createExecutor({ dataDir, languages: ['python', 'c'], pool: { minSize: 1 } }),
    chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
    }),
  ]);
  t = await makeTestApp(executor, { config: { slots: 2 }, dataDir, closeExecutor: false });
  base = await t.app.listen({ port: 0, host: '127.0.0.1' });
  ours.add(base);
  context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  context.on('request', (request) => requested.push(request.url()));
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await t?.cleanup();
  await executor?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

async function open(fragment = ''): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(err.message));
  await page.goto(`${base}/${fragment}`);
  return page;
}

/** Replace the editor's text, as typed (inserted text: no auto-indent or auto-closed brackets). */
async function setCode(page: Page, code: string): Promise<void> {
  await page.click('.cm-content');
  await page.keyboard.press('ControlOrMeta+a');
  await page.keyboard.insertText(code);
}

/** The editor's text, one line per .cm-line (the documents here are short: all lines are rendered). */
const editorText = (page: Page) => page.$$eval('.cm-content .cm-line', (lines) => lines.map((l) => l.textContent).join('\n'));
const outputText = (page: Page) => page.$eval('#output', (el) => el.textContent ?? '');
const summaryText = (page: Page) => page.$eval('#summary', (el) => el.textContent ?? '');
const statusOf = (page: Page) => page.$eval('#result-status', (el) => (el as HTMLElement).dataset.status);

/** Waits for the run that was just started to end, and checks how (showing the output if not as expected). */
async function finished(page: Page, status: string): Promise<void> {
  await page.waitForSelector('#result-status:not([data-status="running"])', { timeout: 20_000 });
  expect(await statusOf(page), await outputText(page)).toBe(status);
}

function fragmentOf(snippet: object): string {
  return `#${Buffer.from(JSON.stringify(snippet)).toString('base64url')}`;
}

describe('the playground in Chromium', () => {
  it('a first visit: the key, then a Python program reading stdin streams its output and ends ok', async () => {
    const page = await open();
    // Auth is on: the key field is shown; a wrong key gets the API's own message.
    await page.waitForSelector('#key-form:not([hidden])');
    await page.fill('#api-key', 'not-a-key');
    await page.press('#api-key', 'Enter');
    await page.waitForSelector('#key-note[data-kind="error"]:has-text("the API key is not valid")');
    await page.fill('#api-key', t.keys.default!);
    await page.press('#api-key', 'Enter');
    await page.waitForSelector('#language:not([disabled])');
    expect(await page.inputValue('#language')).toBe('python');
    expect(await editorText(page)).toContain('Hello, World!'); // the starter program from the cases file
    const unlabelled = await page.$$eval('input, select, textarea, button', (controls) =>
      controls.filter((c) => !(c as HTMLInputElement).labels?.length && !c.getAttribute('aria-label') && !c.textContent?.trim()).map((c) => c.outerHTML),
    );
    expect(unlabelled).toEqual([]);

    await setCode(
      page,
      [
        'import sys, time',
        '',
        'name = sys.stdin.readline().strip()',
        'print(f"Hello, {name}!", flush=True)',
        'time.sleep(3)  # the greeting is on the page already; the status still says running',
        'for i in range(1, 4):',
        '    print(f"{i} squared is {i * i}", flush=True)',
        'print("a warning, on stderr", file=sys.stderr)',
        '',
      ].join('\n'),
    );
    await page.fill('#stdin', 'polyrun\n');
    await page.click('#run');
    await page.waitForSelector('#output .stdout:has-text("Hello, polyrun!")');
    expect(await statusOf(page)).toBe('running'); // streamed: the first line came before the result
    await finished(page, 'ok');
    expect(await page.$$eval('#output .stdout', (spans) => spans.map((s) => s.textContent).join(''))).toBe(
      'Hello, polyrun!\n1 squared is 1\n2 squared is 4\n3 squared is 9\n',
    );
    expect(await page.textContent('#output .stderr')).toBe('a warning, on stderr\n');
    expect(await summaryText(page)).toMatch(/exit code\s*0.*CPU\s*\d+ ms.*wall\s*[\d.]+ (ms|s).*peak memory\s*[\d.]+ MiB/);

    // The picture in docs/: no focus ring, no hover.
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    await page.mouse.move(0, 799);
    const shot = await page.screenshot({ path: SCREENSHOT });
    expect(shot.length).toBeGreaterThan(10_000);
    await page.close();
  }, 40_000);

  it('shows a C compile error from the compile stage, then a run whose compile comes from the cache', async () => {
    const page = await open();
    await page.waitForSelector('#language:not([disabled])'); // the saved key is used at once
    await page.selectOption('#language', 'c');
    expect(await editorText(page)).toContain('#include <stdio.h>');
    await setCode(page, '#include <stdio.h>\nint main(void) { printf("%d\\n", missing); return 0; }\n');
    await page.click('#run');
    await finished(page, 'compile_error');
    expect(await page.textContent('.stage-compile .stderr')).toMatch(/.missing. undeclared/);
    expect(await page.textContent('.stage-compile .stage-meta')).toMatch(/^exit 1 · \d+ ms CPU$/);
    expect(await page.$('.stage-run')).toBeNull();
    expect(await summaryText(page)).toMatch(/^compile stageexit code1CPU\d+ ms/);

    // Fixed, it compiles and runs; the same source again comes from the compile cache.
    await setCode(page, '#include <stdio.h>\nint main(void) { printf("%d\\n", 6 * 7); return 0; }\n');
    await page.click('#run');
    await finished(page, 'ok');
    expect(await page.textContent('.stage-run .stdout')).toBe('42\n');
    expect(await page.textContent('.stage-compile .stage-meta')).toMatch(/^exit 0 · \d+ ms CPU$/);
    await page.click('#run');
    await page.waitForSelector('#summary .flag:has-text("compile cached")');
    expect(await page.textContent('.stage-compile .stage-meta')).toMatch(/cached$/);
    await page.close();
  }, 30_000);

  it('Ctrl-Enter runs from the editor, and a 500 ms CPU limit ends an endless loop with time_limit', async () => {
    const page = await open();
    await page.waitForSelector('#language:not([disabled])');
    // A limit above the tenant's maximum is brought down to it, and the maximum is shown.
    await page.fill('#limit-cpu', '99999999');
    await page.press('#limit-cpu', 'Tab');
    expect(await page.inputValue('#limit-cpu')).toBe('30000');
    expect(await page.textContent('#limit-cpu-max')).toBe('max 30,000 ms');
    await page.fill('#limit-cpu', '500');

    await setCode(page, 'while True:\n    pass\n');
    await page.keyboard.press('ControlOrMeta+Enter'); // focus is in the editor
    await finished(page, 'time_limit');
    expect(await editorText(page)).toBe('while True:\n    pass\n'); // the shortcut inserted no line
    const cpu = Number((await summaryText(page)).match(/CPU\s*(\d+) ms/)?.[1]);
    expect(cpu).toBeGreaterThanOrEqual(450);
    expect(cpu).toBeLessThan(2000);
    expect(await page.textContent('.status-text')).toBe('Time limit exceeded');
    await page.close();
  }, 30_000);

  it('restores a snippet from the URL fragment, runs it, and Share puts the same snippet back', async () => {
    const snippet = {
      language: 'python',
      version: executor.runtimes().find((r) => r.name === 'python')!.version,
      code: 'import sys\nprint(sys.argv[1:], sys.stdin.read().upper())\n',
      stdin: 'über',
      args: ['a b', '-x'],
    };
    const page = await open(fragmentOf(snippet));
    await page.waitForSelector('#language:not([disabled])');
    expect(await editorText(page)).toBe(snippet.code);
    expect(await page.inputValue('#stdin')).toBe('über');
    expect(await page.inputValue('#args')).toBe('a b\n-x');
    await page.keyboard.press('ControlOrMeta+Enter'); // focus is on the page, not in a field
    await finished(page, 'ok');
    expect(await outputText(page)).toContain("['a b', '-x'] ÜBER");

    await page.click('#share');
    await page.waitForSelector('#share-note:not(:empty)');
    expect(new URL(page.url()).hash).toBe(fragmentOf(snippet));
    await page.close();
  }, 30_000);

  it("shows an error as the API's message", async () => {
    const page = await open();
    await page.waitForSelector('#language:not([disabled])');
    await page.fill('#args', Array.from({ length: 65 }, (_, i) => `arg${i}`).join('\n'));
    await page.click('#run');
    await finished(page, 'error');
    expect(await page.textContent('.api-error strong')).toMatch(/^args must NOT have more than 64 items$|^65 arguments given; the maximum is 64$/);
    expect(await page.textContent('.api-error code')).toMatch(/^(VALIDATION_FAILED|TOO_MANY_ARGS)$/);
    await page.close();
  }, 30_000);

  it('with auth off, asks for no key', async () => {
    const noAuth = await makeTestApp(executor, { config: { auth: false }, closeExecutor: false });
    try {
      const url = await noAuth.app.listen({ port: 0, host: '127.0.0.1' });
      ours.add(url);
      const page = await context.newPage();
      await page.goto(`${url}/`);
      await page.waitForSelector('#language:not([disabled])');
      expect(await page.isHidden('#key-form')).toBe(true);
      expect(await page.textContent('#key-note')).toContain('no API key needed');
      await page.close();
    } finally {
      await noAuth.cleanup();
    }
  }, 30_000);

  it('made no request to another origin, threw nothing, and unknown paths stay JSON 404s', async () => {
    expect(pageErrors).toEqual([]);
    expect(requested.length).toBeGreaterThan(10);
    expect(requested.filter((u) => !ours.has(new URL(u).origin))).toEqual([]);
    expect(requested.some((u) => u.includes('/assets/lang-python-'))).toBe(true); // syntax modes load from here too
    const res = await fetch(`${base}/nope`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: { code: 'NOT_FOUND', message: 'no route GET /nope' } });
    for (const url of ['/assets/..%2Findex.html', '/assets/.build-stamp', '/assets/missing.js']) {
      expect((await t.app.inject({ url })).statusCode, url).toBe(404);
    }

    // Without a build, / says how to make one.
    const bare = Fastify();
    bare.setErrorHandler((err, request, reply) => sendError(err, request, reply));
    await bare.register(playgroundRoutes, { dir: dataDir });
    const missing = await bare.inject({ url: '/' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.message).toMatch(/not built: run scripts\/setup/);
    await bare.close();
  });
});
