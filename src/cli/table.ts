// Plain-text tables for CLI output: right-aligned numbers, left-aligned text, one header rule.
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const isNum = (s: string) => /^[-+]?[\d.]+(e[-+]?\d+)?[x×%]?$/i.test(s);
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (isNum(c) ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
