/** Plain-text tables for the terminal: one per section, with a target and pass/miss column. */

export type Cell = string | number;

export interface Table {
  readonly title: string;
  readonly head: readonly string[];
  readonly rows: readonly (readonly Cell[])[];
  /** Lines printed under the table (conditions, caveats). */
  readonly notes?: readonly string[];
}

/** A verdict cell: "pass" / "MISS", or "-" when a row has no target. */
export function verdict(pass: boolean | undefined): string {
  if (pass === undefined) return '-';
  return pass ? 'pass' : 'MISS';
}

export function formatNumber(value: number, digits = 2): string {
  if (!Number.isFinite(value)) return String(value);
  return value.toLocaleString('en-US', {
    minimumFractionDigits: 0,
    maximumFractionDigits: digits,
  });
}

export function renderTable(table: Table): string {
  const cells = [table.head, ...table.rows].map((row) =>
    row.map((cell) => (typeof cell === 'number' ? formatNumber(cell) : cell)),
  );
  const widths = table.head.map((_, column) =>
    Math.max(...cells.map((row) => (row[column] ?? '').length)),
  );
  const line = (row: readonly string[]) =>
    row
      .map((cell, column) => {
        const width = widths[column] ?? 0;
        // Text left, figures right.
        return /^[-+]?[\d,.]+( ?[×%a-zµ/]+)?$/.test(cell)
          ? cell.padStart(width)
          : cell.padEnd(width);
      })
      .join('  ')
      .trimEnd();
  const [head = [], ...body] = cells;
  const rule = widths.map((width) => '-'.repeat(width)).join('  ');
  const out = [`== ${table.title}`, line(head), rule, ...body.map(line)];
  for (const note of table.notes ?? []) out.push(`   ${note}`);
  return out.join('\n');
}
