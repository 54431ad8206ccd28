"""Tables of benchmark rows: aligned text for the terminal, markdown for the README.

A ratio stored as `X`, `X_low`, `X_high` (see bench.timing.ratio_columns) shows
as one cell, "median [low, high]", under the heading "X (90% interval)".
"""

from bench.timing import LEVEL

INTERVAL = f" ({round(100 * LEVEL)}% interval)"


def scalar_columns(rows):
    """The keys of `rows`, in first-seen order, that hold scalars (nested figures,
    such as per-run seconds or per-epoch history, are left to the JSON)."""
    columns = {}
    for row in rows:
        columns.update((k, None) for k, v in row.items() if not isinstance(v, (dict, list)))
    return list(columns)


def cell(value):
    return f"{value:.3g}" if isinstance(value, float) else "" if value is None else str(value)


def _interval_keys(columns):
    return {c for c in columns if f"{c}_low" in columns and f"{c}_high" in columns}


def display(rows):
    """(headings, [[cell, ...] per row]) with each ratio's interval folded into its cell."""
    columns = scalar_columns(rows)
    folded = _interval_keys(columns)
    shown = [c for c in columns if not any(c in (f"{k}_low", f"{k}_high") for k in folded)]

    def show(row, column):
        value = row.get(column)
        if column in folded and row.get(f"{column}_low") is not None:
            return f"{cell(value)} [{cell(row[f'{column}_low'])}, {cell(row[f'{column}_high'])}]"
        return cell(value)

    headings = [c + INTERVAL if c in folded else c for c in shown]
    return headings, [[show(row, c) for c in shown] for row in rows]


def format_table(rows):
    """Rows of scalars as an aligned text table."""
    headings, cells = display(rows)
    table = [headings] + cells
    widths = [max(len(line[i]) for line in table) for i in range(len(headings))]
    return "\n".join("  ".join(v.rjust(w) for v, w in zip(line, widths)) for line in table)


def markdown_table(columns, rows):
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
