"""The facts table as data (:func:`describe`) and as text (:func:`format_table`).

``describe()`` returns a :class:`FactsTable`: a list with one plain dict per activation (so it
can be filtered, sliced and saved as JSON) that prints itself as the aligned table
``keras-init-lab list`` shows. Each column's header says what its number is; :data:`COLUMNS`
also carries a one-line explanation per column (:func:`format_legend`).

Example:
    >>> table = describe()
    >>> table[2]["name"], table[2]["max_slope"]
    ('sigmoid', 0.25)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from keras_init_lab.activations._facts import ZERO_CENTRED_TOLERANCE, by_name

__all__ = ["COLUMNS", "Column", "FactsTable", "describe", "format_legend", "format_table"]


def _number(value: float) -> str:
    return f"{value:.4g}"


def _mean(value: float) -> str:
    # Three decimals; a quadrature result of -1e-17 prints as 0.000, not -0.000.
    return f"{value:.3f}".replace("-0.000", "0.000")


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


@dataclass(frozen=True)
class Column:
    """One column of the text table: its header, the row keys it reads, how it shows them."""

    header: str
    keys: tuple[str, ...]
    show: Callable[[dict], str]
    meaning: str


#: The columns of :func:`format_table`, in order. Headers name what each number is.
COLUMNS: tuple[Column, ...] = (
    Column("name", ("name",), lambda r: str(r["name"]), "canonical name"),
    Column("range", ("range_text",), lambda r: str(r["range_text"]), "output range"),
    Column(
        "zero-centred (E[f(z)])",
        ("zero_centered", "mean_output"),
        lambda r: f"{_yes_no(r['zero_centered'])} ({_mean(r['mean_output'])})",
        f"mean output for z ~ N(0, 1); zero-centred when |E[f(z)]| < {ZERO_CENTRED_TOLERANCE}",
    ),
    Column("saturating", ("saturation",), lambda r: str(r["saturation"]), "where f' -> 0"),
    Column("max slope", ("max_slope",), lambda r: _number(r["max_slope"]), "max over x of f'(x)"),
    Column(
        "dead units",
        ("can_die",),
        lambda r: _yes_no(r["can_die"]),
        "f' is exactly 0 on a whole half-line, so a unit can stop learning",
    ),
    Column(
        "recommended initializer",
        ("recommended_initializer",),
        lambda r: str(r["recommended_initializer"]),
        "the initializer this package pairs with the activation",
    ),
    Column(
        "its gain (fan)",
        ("implied_gain", "implied_fan"),
        lambda r: f"{_number(r['implied_gain'])} ({r['implied_fan']})",
        "the gain that initializer uses: sqrt(Var(W) * fan), and which fan",
    ),
    Column(
        "PyTorch calculate_gain",
        ("pytorch_gain",),
        lambda r: (
            "n/a (PyTorch raises)" if r["pytorch_gain"] is None else _number(r["pytorch_gain"])
        ),
        "torch.nn.init.calculate_gain(name); n/a where PyTorch raises",
    ),
    Column(
        "1/sqrt(E[f(z)^2])",
        ("second_moment_gain",),
        lambda r: "n/a" if r["second_moment_gain"] is None else _number(r["second_moment_gain"]),
        "second-moment gain: keeps E[x^2] of a layer fed z ~ N(0, 1)",
    ),
)


class FactsTable(list):
    """The facts table: a list of row dicts (one per activation) that prints as a table.

    ``str(table)`` is :func:`format_table` of its rows; ``table.legend`` explains the columns.
    """

    def __str__(self) -> str:
        return format_table(self)

    @property
    def legend(self) -> str:
        """One line per column: header, then what its value is."""
        return format_legend()


def describe() -> FactsTable:
    """Return the facts table: one plain dict per activation (PReLU included), course order.

    Example:
        >>> [row["name"] for row in describe()][:4]
        ['linear', 'step', 'sigmoid', 'tanh']

    Returns:
        A :class:`FactsTable` (a list) of dicts with keys ``name, aliases, family, kind,
        formula, derivative_formula, output_range, range_text, mean_output, zero_centered,
        saturating, saturation, max_slope, can_die, recommended_initializer, implied_gain,
        implied_fan, gain, gain_nonlinearity, pytorch_gain, second_moment_gain, params,
        keras_equivalent, reference, notes``. ``print(describe())`` shows it as text.
    """
    return FactsTable(row.as_row() for row in by_name().values())


def format_table(rows: list[dict], columns: tuple[Column, ...] = COLUMNS) -> str:
    """Format :func:`describe` rows as an aligned plain-text table (for ``keras-init-lab list``).

    Example:
        >>> print(format_table(describe()[2:3]))   # doctest: +NORMALIZE_WHITESPACE
        name     range   zero-centred (E[f(z)])  saturating  max slope  dead units
        recommended initializer  its gain (fan)  PyTorch calculate_gain  1/sqrt(E[f(z)^2])
        sigmoid  (0, 1)  no (0.500)  both sides  0.25  no  glorot_uniform  1 (fan_avg)  1
        1.846

    Args:
        rows: dicts with at least the keys of the columns (as returned by :func:`describe`).
        columns: the columns to show, in order (default :data:`COLUMNS`, all of them; the
            command line shows them in two tables of at most 100 characters a line).

    Returns:
        The table as one string, a header line then one line per row.

    Raises:
        TypeError: ``rows`` is not a list of dicts, or ``columns`` not a tuple.
        ValueError: if a row lacks a column's key, or ``columns`` is empty or holds
            something other than a :class:`Column`.
    """
    if isinstance(rows, (str, bytes, dict)) or not isinstance(rows, (list, tuple)):
        raise TypeError(f"rows must be a list of dicts from describe(); received rows={rows!r}.")
    for row in rows:
        if not isinstance(row, dict):
            raise TypeError(
                f"rows must be a list of dicts from describe(); received a row {row!r}."
            )
    if isinstance(columns, (str, bytes)) or not isinstance(columns, (list, tuple)):
        raise TypeError(
            f"columns must be a tuple of Column (e.g. COLUMNS); received columns={columns!r}."
        )
    if not columns or not all(isinstance(column, Column) for column in columns):
        raise ValueError(
            "columns must be a non-empty tuple of Column (e.g. COLUMNS[:4]); received "
            f"columns={columns!r}."
        )
    cells = [[column.header for column in columns]]
    for row in rows:
        missing = [key for column in columns for key in column.keys if key not in row]
        if missing:
            raise ValueError(
                f"format_table needs rows from describe(); row {row.get('name', row)!r} lacks "
                f"the keys {missing}."
            )
        cells.append([column.show(row) for column in columns])
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in cells
    )


def format_legend() -> str:
    """One line per column of :func:`format_table`: its header and what its value is."""
    width = max(len(column.header) for column in COLUMNS)
    return "\n".join(f"  {column.header.ljust(width)}  {column.meaning}" for column in COLUMNS)
