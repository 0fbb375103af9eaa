"""Static rules: manifest checks."""

from __future__ import annotations
