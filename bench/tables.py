"""Tables of benchmark rows: aligned text for the terminal, markdown for the README."""


def scalar_columns(rows):
    """The keys of `rows`, in first-seen order, that hold scalars (nested figures,
    such as per-run seconds or per-epoch history, are left to the JSON)."""
    columns = {}
    for row in rows:
        columns.update((k, None) for k, v in row.items() if not isinstance(v, (dict, list)))
    return list(columns)


def format_table(rows):
    """Rows of scalars as an aligned text table."""
    columns = scalar_columns(rows)
    cell = lambda v: f"{v:.3g}" if isinstance(v, float) else str(v)  # noqa: E731
    table = [columns] + [[cell(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    return "\n".join("  ".join(v.rjust(w) for v, w in zip(line, widths)) for line in table)


def markdown_table(columns, rows):
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
