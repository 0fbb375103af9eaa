"""TUI tests: pilot flows, SVG snapshots and pure helpers, on a scripted FakeSession."""
