// The fuzz summary as a fixed-width text table (what the CLI prints and docs/reliability.md quotes), and one
// line per finding pointing at its reproducer.
import type { TargetSummary } from './harness.ts';

const MiB = 2 ** 20;

function totals(rows: readonly TargetSummary[]): TargetSummary {
  const sum = (k: 'cases' | 'ok' | 'rejected' | 'crashes' | 'bad' | 'hangs' | 'memFlags' | 'seconds') => rows.reduce((t, r) => t + r[k], 0);
  return {
    ...rows[0]!,
    cases: sum('cases'),
    ok: sum('ok'),
    rejected: sum('rejected'),
    crashes: sum('crashes'),
    bad: sum('bad'),
    hangs: sum('hangs'),
    memFlags: sum('memFlags'),
    seconds: sum('seconds'),
    maxMs: Math.max(...rows.map((r) => r.maxMs)),
    maxMemDelta: Math.max(...rows.map((r) => r.maxMemDelta)),
    findings: [],
  };
}

export function summaryTable(rows: readonly TargetSummary[]): string {
  const head = ['target', 'cases', 'ok', 'rejected', 'crashes', 'bad', 'hangs', 'mem flags', 'max ms', 'max RSS delta', 'seconds'];
  const all =
    rows.length > 1
      ? [...rows.map((r) => ({ ...r, name: r.target as string })), { ...totals(rows), name: 'total' }]
      : rows.map((r) => ({ ...r, name: r.target as string }));
  const cells = all.map((r) => [
    r.name,
    String(r.cases),
    String(r.ok),
    String(r.rejected),
    String(r.crashes),
    String(r.bad),
    String(r.hangs),
    String(r.memFlags),
    r.maxMs.toFixed(1),
    `${(r.maxMemDelta / MiB).toFixed(1)} MiB`,
    r.seconds.toFixed(1),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: readonly string[]) => c.map((x, i) => (i === 0 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}

/** One entry per finding: what happened, the mutation and the reproducer folder. */
export function findingLines(rows: readonly TargetSummary[]): string[] {
  return rows.flatMap((s) =>
    s.findings.map((f) => {
      const what =
        f.outcome === 'ok' || f.outcome === 'rejected'
          ? `allocated ${(f.memDelta / MiB).toFixed(0)} MiB for ${f.inputBytes} input bytes`
          : `${f.outcome.toUpperCase()} ${f.error?.name}: ${f.error?.message.split('\n')[0]!.slice(0, 160)}`;
      return `${s.target} case ${f.index}: ${what}\n    mutation: ${f.note.slice(0, 200)}\n    reproducer: ${f.repro}`;
    }),
  );
}
