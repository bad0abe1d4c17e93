"""Where things are: the repository root, and the lesson configs in haproxy/ the tests check."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LESSON_CONFIGS = sorted((ROOT / "haproxy").glob("*.cfg"))
