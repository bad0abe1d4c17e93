"""Deterministic mutations of the lesson configs in haproxy/ (and haproxy/article/), the same every run, for
fuzzing the config checker: ``mutations()`` gives (name, text) pairs, ``write_all`` writes them as files."""
from __future__ import annotations

import random
from pathlib import Path

from support.paths import ROOT

SEEDS = sorted((ROOT / "haproxy").glob("*.cfg")) + sorted((ROOT / "haproxy" / "article").glob("*.cfg"))


COUNT = 480  # mutations tried


CHARS = list("\"'\\$#{}:@.,;-+*!()[]/ \t0123456789xXk") + ["\x00", "\r", "\n", "²", "８", "①", "é"]


WORDS = ["50²", "５０", "-1", "0", "257", "99999999999", "1.5s", "5S", "10x", "\"unterminated", "'", "\\x",
         "\\x4g", "${HOME}", "${LAB_NOT_SET}", "${BROKEN", "$HOME", "ipv4@127.0.0.1:8080", "*:8080", "+80",
         ":8080", "127.0.0.1:8080-8090", "fd@3", "unix@/tmp/x", "localhost:808²", "[::1]:80", "check",
         "backup", "weight", "maxconn", "mode", "tcp", "http", "balance", "leastconn", "source", "uri",
         "first", "random(2)", "random(²)", "option", "httpchk", "default_backend", "use_backend", "bind",
         "server", "frontend", "backend", "listen", "defaults", "global", "mailers", "http-errors",
         "timeout", "connect", "inter", "rise", "fall", "stats", "uri", "enable", "no", "#"]


LINES = [".if 0", ".if 1", ".else", ".endif", ".elif defined(HOME)", ".warning \"fuzz\"", ".notice n",
         ".alert stop", ".diag d", ".bogus", "mailers m1", "http-errors e1", "    errorfile 503 /nonexistent",
         "    mailer smtp1 127.0.0.1:25", "userlist u", "resolvers dns", "peers p", "cache c",
         "    server extra 127.0.0.1:9999", "    server extra2 ${LAB_NOT_SET}:9999",
         "    timeout server 5²s", "    maxconn 50²", "    balance uri len ²", "    balance random(²)"]


def mutate(text: str, rng: random.Random) -> str:
    """One to three random edits: characters, words, whole lines, or the final newline."""
    for _ in range(rng.randint(1, 3)):
        kind = rng.randrange(8)
        lines = text.split("\n")
        if kind == 0 and text:  # delete a character
            i = rng.randrange(len(text))
            text = text[:i] + text[i + 1:]
        elif kind == 1:  # insert a character
            i = rng.randrange(len(text) + 1)
            text = text[:i] + rng.choice(CHARS) + text[i:]
        elif kind == 2 and text:  # replace a character
            i = rng.randrange(len(text))
            text = text[:i] + rng.choice(CHARS) + text[i + 1:]
        elif kind == 3:  # replace a word
            n = rng.randrange(len(lines))
            words = lines[n].split(" ")
            words[rng.randrange(len(words))] = rng.choice(WORDS)
            lines[n] = " ".join(words)
            text = "\n".join(lines)
        elif kind == 4:  # insert a line
            lines.insert(rng.randrange(len(lines) + 1), rng.choice(LINES))
            text = "\n".join(lines)
        elif kind == 5 and len(lines) > 1:  # delete a line
            del lines[rng.randrange(len(lines))]
            text = "\n".join(lines)
        elif kind == 6 and len(lines) > 1:  # swap two lines
            i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
        else:  # drop the final newline, or turn every LF into CR
            text = text.rstrip("\n") if rng.random() < 0.5 else text.replace("\n", "\r")
    return text


def mutations() -> list[tuple[str, str]]:
    """(name, text) for each mutation, the same every run."""
    rng = random.Random(20261130)
    texts = [p.read_text(encoding="utf-8") for p in SEEDS]
    return [(f"m{i:03d}-{SEEDS[i % len(SEEDS)].stem}", mutate(texts[i % len(SEEDS)], rng)) for i in range(COUNT)]


def write_all(d: Path) -> list[tuple[str, Path]]:
    """Every mutation as ``d/NAME.cfg``: (name, path) pairs."""
    out = []
    for name, text in mutations():
        path = d / f"{name}.cfg"
        path.write_bytes(text.encode("utf-8"))
        out.append((name, path))
    return out
