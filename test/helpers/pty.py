#!/usr/bin/env python3
"""Drive a command through a real pseudo-terminal, as a user at a terminal would.

Usage: pty.py ROWS COLS -- COMMAND [ARG...]   (the script, a JSON list of steps, on stdin)

Steps, run in order:
  {"send": "text"}                       write to the terminal (\\r for Enter, \\x03 for Ctrl-C)
  {"expect": "regex", "timeout": 10}     wait until the output since the last match matches;
      with "poke": "text", "every": 0.5      ... writing text now and again meanwhile (e.g. a command whose
                                             answer only comes once the other side is ready)
  {"resize": [rows, cols]}               set the terminal size (TIOCSWINSZ) and send SIGWINCH to the command
  {"until": ["cmd", "arg"], "timeout": 10}  run a host command every 50 ms until it exits 0
  {"sleep": 0.2}
  {"wait": 10}                           wait for the command to exit

Prints one JSON object: {"ok": bool, "error": str|null, "exit": int|null, "output": str, "step": int}.
Whatever happens, the command is not left running: at the end it gets SIGHUP, then SIGKILL.
"""
import fcntl
import json
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time


def winsize(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))


def main():
    rows, cols = int(sys.argv[1]), int(sys.argv[2])
    argv = sys.argv[sys.argv.index('--') + 1:]
    steps = json.load(sys.stdin)
    master, slave = os.openpty()
    winsize(slave, rows, cols)
    pid = os.fork()
    if pid == 0:
        try:
            os.close(master)
            os.setsid()
            fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
            for fd in (0, 1, 2):
                os.dup2(slave, fd)
            if slave > 2:
                os.close(slave)
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    os.close(slave)

    out = bytearray()
    pos = 0          # expect searches the output from here on
    status = None    # the child's exit code once known

    def pump(timeout):
        """Read what is there (waiting up to timeout); False once the terminal is closed."""
        r, _, _ = select.select([master], [], [], timeout)
        if not r:
            return True
        try:
            data = os.read(master, 65536)
        except OSError:
            return False
        if not data:
            return False
        out.extend(data)
        return True

    def reap(block):
        nonlocal status
        if status is not None:
            return True
        p, st = os.waitpid(pid, 0 if block else os.WNOHANG)
        if p == 0:
            return False
        status = os.waitstatus_to_exitcode(st)
        if status < 0:
            status = 128 - status
        return True

    result = {'ok': True, 'error': None, 'exit': None, 'step': -1}
    open_ = True
    try:
        for i, step in enumerate(steps):
            result['step'] = i
            if 'send' in step:
                os.write(master, step['send'].encode())
            elif 'expect' in step:
                rx = re.compile(step['expect'])
                deadline = time.monotonic() + step.get('timeout', 10)
                poke_at = time.monotonic()
                while True:
                    if 'poke' in step and time.monotonic() >= poke_at:
                        os.write(master, step['poke'].encode())
                        poke_at = time.monotonic() + step.get('every', 0.5)
                    m = rx.search(out.decode('utf-8', 'replace'), pos)
                    if m:
                        pos = m.end()
                        break
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise RuntimeError(f'timed out waiting for /{step["expect"]}/')
                    if open_:
                        open_ = pump(min(left, 0.05))
                    else:
                        raise RuntimeError(f'the terminal closed before /{step["expect"]}/ appeared')
            elif 'resize' in step:
                winsize(master, step['resize'][0], step['resize'][1])
                os.kill(pid, signal.SIGWINCH)
            elif 'until' in step:
                deadline = time.monotonic() + step.get('timeout', 10)
                while subprocess.run(step['until'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode != 0:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f'timed out waiting for {step["until"]} to succeed')
                    if open_:
                        open_ = pump(0.05)
                    else:
                        time.sleep(0.05)
            elif 'sleep' in step:
                deadline = time.monotonic() + step['sleep']
                while time.monotonic() < deadline:
                    if open_:
                        open_ = pump(deadline - time.monotonic())
                    else:
                        time.sleep(deadline - time.monotonic())
            elif 'wait' in step:
                deadline = time.monotonic() + step['wait']
                while not reap(False):
                    if time.monotonic() > deadline:
                        raise RuntimeError('timed out waiting for the command to exit')
                    if open_:
                        open_ = pump(0.05)
                    else:
                        time.sleep(0.05)
            else:
                raise RuntimeError(f'unknown step {step!r}')
        # Collect whatever output is still pending.
        while open_ and status is not None:
            open_ = pump(0.05) and select.select([master], [], [], 0)[0] != []
    except Exception as e:  # noqa: BLE001 - reported to the test
        result['ok'] = False
        result['error'] = str(e)
    finally:
        if not reap(False):
            for sig, grace in ((signal.SIGHUP, 2.0), (signal.SIGKILL, 5.0)):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
                deadline = time.monotonic() + grace
                while not reap(False) and time.monotonic() < deadline:
                    if open_:
                        open_ = pump(0.05)
                    else:
                        time.sleep(0.05)
                if status is not None:
                    break
            reap(True)
        os.close(master)
    result['exit'] = status
    result['output'] = out.decode('utf-8', 'replace')
    json.dump(result, sys.stdout)


if __name__ == '__main__':
    main()
