"""Regenerate screenshots/*.svg from the demo lab: the start screen, a failed walk with a hop open,
a healthy walk, an idle disconnect, the symptom-first start, and `kdiag watch` during a rollout.

The lab is the real one `kdiag demo` runs (fake API server, loopback apps, ingress emulation), so
timings and ports differ from run to run; the TUI snapshot tests use deterministic fakes instead.

Usage: python3 scripts/screenshots.py [--out screenshots] [--png]   (--png needs cairosvg)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from textual.pilot import Pilot  # noqa: E402
from textual.widgets import Input  # noqa: E402

from kdiag.lab.demo import demo_request, lab_session  # noqa: E402
from kdiag.lab.scenario_lab import Lab  # noqa: E402
from kdiag.lab.scenarios import SCENARIOS  # noqa: E402
from kdiag.tui.app import KdiagApp, make_app  # noqa: E402

__all__ = ["SHOTS", "main", "take"]

SIZE = (120, 36)


async def _settle(app: KdiagApp, pilot: Pilot[int]) -> None:
    for _ in range(2):
        try:
            await app.workers.wait_for_complete()
        except Exception:  # a failed worker is shown in the UI
            pass
        await pilot.pause()
    for field in app.screen.query(Input):
        field.cursor_blink = False
    await pilot.pause()


async def _symptom(app: KdiagApp, pilot: Pilot[int]) -> None:
    await _settle(app, pilot)
    await pilot.press("f3")
    await _settle(app, pilot)


async def _watch_rollout(app: KdiagApp, pilot: Pilot[int]) -> None:
    """The walk, then the watch view (`w`) while the demo restarts the Deployment (`r`)."""
    from kdiag.tui.screens.watch import WatchScreen, watch_request

    await _settle(app, pilot)
    await app.push_screen(WatchScreen(watch_request(demo_request(SCENARIOS["rollout-no-prestop"])),
                                      duration=6.0, rate=20.0))
    await pilot.pause(1.0)
    await pilot.press("r")
    await _settle(app, pilot)


#: (file name, scenario, open its broken route?, how to drive the app)
Shot = tuple[str, str, bool, Callable[[KdiagApp, Pilot[int]], Awaitable[None]]]

SHOTS: list[Shot] = [
    ("start", "target-port-mismatch", False, _settle),
    ("walk-failed", "target-port-mismatch", True, _settle),
    ("walk-idle", "idle-timeout", True, _settle),
    ("walk-healthy", "healthy", True, _settle),
    ("walk-gateway", "gw-refgrant-missing", True, _settle),
    ("symptom-start", "healthy", False, _symptom),
    ("watch-rollout", "rollout-no-prestop", True, _watch_rollout),
]


async def take(name: str, scenario: str, open_walk: bool,
               drive: Callable[[KdiagApp, Pilot[int]], Awaitable[None]], out: Path) -> Path:
    sc = SCENARIOS[scenario]
    with Lab(sc) as lab:
        session = lab_session(lab)
        try:
            app = make_app(session, open_walk=demo_request(sc) if open_walk else None)
            app.animation_level = "none"
            async with app.run_test(size=SIZE) as pilot:
                await drive(app, pilot)
                return Path(app.save_screenshot(filename=f"{name}.svg", path=str(out)))
        finally:
            await session.close()


async def _main(out: Path, png: bool, only: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, scenario, open_walk, drive in SHOTS:
        if only and name not in only:
            continue
        path = await take(name, scenario, open_walk, drive, out)
        print(path)
        if png:
            import cairosvg  # optional, local only

            cairosvg.svg2png(url=str(path), write_to=str(path.with_suffix(".png")), output_width=1600)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    parser.add_argument("--png", action="store_true", help="also write PNGs (needs cairosvg)")
    parser.add_argument("names", nargs="*", help="only these shots (default: all)")
    args = parser.parse_args(argv)
    asyncio.run(_main(args.out, args.png, args.names))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
