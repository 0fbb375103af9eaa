"""Static rules: service checks."""

from __future__ import annotations
