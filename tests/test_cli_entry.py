"""The process entry point (`kdiag.cli.run`): raised GC thresholds and a quick exit that loses nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=60)


def test_output_is_flushed_and_exit_handlers_run_before_the_quick_exit() -> None:
    out = _python("""
        import atexit, sys
        from kdiag.cli import _leave
        atexit.register(lambda: print("handler ran"))
        sys.stdout.write("x" * 100000)  # more than one buffer
        sys.stderr.write("on stderr")
        _leave(3)
        print("not reached")
    """)
    assert out.returncode == 3
    assert out.stdout == "x" * 100000 + "handler ran\n"
    assert out.stderr == "on stderr"


def test_a_running_thread_that_is_not_a_daemon_is_waited_for() -> None:
    out = _python("""
        import threading, time
        from kdiag.cli import _leave
        threading.Thread(target=lambda: (time.sleep(0.3), print("thread finished", flush=True))).start()
        _leave(0)
    """)
    assert out.returncode == 0
    assert out.stdout == "thread finished\n"


def test_the_command_runs_with_raised_gc_thresholds_and_keeps_its_exit_code() -> None:
    out = _python("""
        import atexit, gc, sys
        from kdiag.cli import run
        atexit.register(lambda: print(list(gc.get_threshold())))
        sys.argv = ["kdiag", "lint", "/nonexistent/manifests.yaml"]
        run()
    """)
    from kdiag.cli import GC_THRESHOLDS

    assert out.returncode == 2
    assert json.loads(out.stdout.strip()) == list(GC_THRESHOLDS)
    assert out.stderr.startswith("kdiag: ") and "Traceback" not in out.stderr


def test_python_dash_m_kdiag_writes_whole_output() -> None:
    out = subprocess.run([sys.executable, "-m", "kdiag", "checks", "--format", "json"], capture_output=True,
                         text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert len(json.loads(out.stdout)) > 50  # the whole catalog: nothing cut at exit


def test_a_reader_that_stops_early_gets_no_broken_pipe_noise() -> None:
    # the catalog in Markdown is larger than a pipe's buffer: the writer meets the closed pipe
    proc = subprocess.Popen([sys.executable, "-m", "kdiag", "checks", "--format", "markdown"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=ROOT)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()  # like `kdiag checks | head -1`
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0
    assert "BrokenPipe" not in err and "Exception ignored" not in err and "Traceback" not in err
