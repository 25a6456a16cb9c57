// polyrun's JavaScript kernel driver: runs inside a session's sandbox as `node -e <this file>`.
// Cells run in this process's global context (vm.runInThisContext), so top-level declarations and
// globals persist across cells; a cell whose value is a promise is awaited. The protocol is the Python
// driver's: one JSON line per cell on stdin ({"id", "code"}); at the end of a cell "\x1e<id>\n" on stderr,
// then "\x1e<id> <json>\n" on stdout. SIGINT interrupts synchronous code of a running cell
// (breakOnSigint) and is ignored between cells. `node -e` runs this as a script in the global scope that
// the cells share: everything of the driver's own lives inside the function below, out of the cells' way.
(() => {
  'use strict';
  const vm = require('node:vm');
  const util = require('node:util');
  const fs = require('node:fs');

  const VALUE_MAX = 100000;
  globalThis.require = require;
  process.on('SIGINT', () => undefined);

  function shown(value) {
    const text = typeof value === 'string' ? util.inspect(value) : util.inspect(value, { depth: 4, breakLength: 100 });
    return text.length <= VALUE_MAX ? text : text.slice(0, VALUE_MAX) + '...';
  }

  function described(error) {
    if (!(error instanceof Error)) return { name: 'Error', message: util.inspect(error), traceback: '' };
    // The user's frames only: the driver ([eval]) and Node's own (node:) are not theirs.
    const stack = String(error.stack || '')
      .split('\n')
      .filter((line) => !/\(?\[eval\]|\(?node:/.test(line))
      .join('\n');
    return { name: error.name, message: error.message, traceback: stack };
  }

  let count = 0;
  async function runCell(request) {
    count += 1;
    const reply = { count, value: null, error: null };
    try {
      let value = vm.runInThisContext(request.code, { filename: `<cell-${count}>`, breakOnSigint: true });
      if (value && typeof value.then === 'function') value = await value;
      if (value !== undefined) reply.value = shown(value);
    } catch (error) {
      reply.error = described(error);
    }
    fs.writeSync(2, `\x1e${request.id}\n`);
    fs.writeSync(1, `\x1e${request.id} ${JSON.stringify(reply)}\n`);
  }

  const pending = [];
  let buffered = '';
  let running = false;
  async function drain() {
    if (running) return;
    running = true;
    while (pending.length > 0) await runCell(pending.shift());
    running = false;
  }
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk) => {
    buffered += chunk;
    for (let end = buffered.indexOf('\n'); end >= 0; end = buffered.indexOf('\n')) {
      pending.push(JSON.parse(buffered.slice(0, end)));
      buffered = buffered.slice(end + 1);
    }
    void drain();
  });
})();
