# polyrun's Python kernel driver: runs inside a session's sandbox as `python3 -u -B -c <this file>`.
# It keeps one namespace across cells. The host writes one JSON line per cell on stdin ({"id", "code"});
# the cell's output goes to stdout and stderr as the code writes it; when the cell ends the driver writes
# an end marker "\x1e<id>\n" on stderr, then "\x1e<id> <json>\n" on stdout (json: count, value, error).
# The host picked <id> at random for the cell, so output that merely looks like a marker is not one.
# SIGINT (the host's interrupt at a cell's time limit) raises KeyboardInterrupt in the cell only: between
# cells it is ignored, so the kernel survives an interrupt that arrives late.
import ast
import json
import linecache
import os
import signal
import sys
import traceback

VALUE_MAX = 100_000


def shown(value):
    text = repr(value)
    return text if len(text) <= VALUE_MAX else text[:VALUE_MAX] + '...'


def cell_traceback(error):
    tb = error.__traceback__
    # Skip the driver's own frames: the user's traceback starts in the cell.
    while tb is not None and not tb.tb_frame.f_code.co_filename.startswith('<cell-'):
        tb = tb.tb_next
    if tb is None:
        return ''.join(traceback.format_exception_only(type(error), error))
    return ''.join(traceback.format_exception(type(error), error, tb))


def described(error):
    return {'name': type(error).__name__, 'message': str(error), 'traceback': cell_traceback(error)}


def run_cell(code, name, namespace):
    lines = code.splitlines(True)
    linecache.cache[name] = (len(code), None, lines, name)  # source lines in tracebacks
    tree = ast.parse(code, name, 'exec')
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    exec(compile(tree, name, 'exec'), namespace)
    if last is None:
        return None
    value = eval(compile(last, name, 'eval'), namespace)
    if value is not None:
        namespace['_'] = value
    return value


def answer(cell_id, reply):
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:
        pass
    os.write(2, ('\x1e%s\n' % cell_id).encode())
    os.write(1, ('\x1e%s %s\n' % (cell_id, json.dumps(reply))).encode())


def main():
    protocol = os.fdopen(os.dup(0), 'rb')
    # The program's own stdin is empty: cells cannot read the protocol by accident.
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    sys.stdin = open(os.devnull)
    namespace = {'__name__': '__main__', '__builtins__': __builtins__}
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    count = 0
    for line in protocol:
        request = json.loads(line)
        count += 1
        reply = {'count': count, 'value': None, 'error': None}
        try:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            try:
                value = run_cell(request['code'], '<cell-%d>' % count, namespace)
                if value is not None:
                    reply['value'] = shown(value)
            except BaseException as error:  # SystemExit too: the kernel outlives a cell's exit()
                reply['error'] = described(error)
            finally:
                signal.signal(signal.SIGINT, signal.SIG_IGN)
        except KeyboardInterrupt as error:  # arrived while the cell's answer was being made
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            reply['error'] = described(error)
        answer(request['id'], reply)


main()
