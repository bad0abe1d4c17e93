"""A tiny table for notebooks: plain text when printed, HTML when displayed. No pandas needed."""
from __future__ import annotations

import html
from typing import Any, Iterable


class Table:
    """Rows of dicts with a fixed column order; ``repr`` is an aligned text table."""

    def __init__(self, rows: Iterable[dict[str, Any]], columns: list[str] | None = None, title: str = ""):
        self.rows = list(rows)
        self.columns = columns or (list(self.rows[0]) if self.rows else [])
        self.title = title

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.rows[i]

    def column(self, name: str) -> list[Any]:
        return [r.get(name) for r in self.rows]

    def __repr__(self) -> str:
        cells = [[str(r.get(c, "")) for c in self.columns] for r in self.rows]
        widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(self.columns)]

        def line(vals: list[str]) -> str:
            return "  ".join(v.ljust(w) for v, w in zip(vals, widths)).rstrip()

        out = ([self.title] if self.title else []) + [line(self.columns), line(["-" * w for w in widths])]
        return "\n".join(out + [line(row) for row in cells])

    def _numeric(self, column: str) -> bool:
        values = [r.get(column) for r in self.rows if r.get(column) not in (None, "")]
        return bool(values) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)

    def _repr_html_(self) -> str:
        # JupyterLab right-aligns every table cell; text reads from the left, only numbers align right.
        align = {c: "right" if self._numeric(c) else "left" for c in self.columns}
        head = "".join(f'<th style="text-align:{align[c]}">{html.escape(c)}</th>' for c in self.columns)
        body = "".join(
            "<tr>" + "".join(f'<td style="text-align:{align[c]}">{html.escape(str(r.get(c, "")))}</td>'
                             for c in self.columns) + "</tr>"
            for r in self.rows
        )
        cap = f"<caption>{html.escape(self.title)}</caption>" if self.title else ""
        return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
