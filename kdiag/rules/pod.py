"""Static rules: pod checks."""

from __future__ import annotations
