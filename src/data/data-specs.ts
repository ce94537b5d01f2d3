// Data specs: 'a.jsonl,b.jsonl:0:400' — comma-separated FILE[:FROM:TO] — read as one record list. Shared by
// the CLI's --data/--eval-data flags and the API's `data`/`evalData` options.
import { HaloError } from '../core/errors.ts';
import { describeRead, readJsonl, type DataRecord, type ReadJsonlOptions } from './jsonl.ts';

/** 'file.jsonl:800:1000' → rows 800..999; 'file.jsonl' → all rows. */
export function splitSpec(spec: string): { file: string; from: number; to: number | undefined } {
  const m = /^(.*?):(\d*):(\d*)$/.exec(spec);
  if (!m) return { file: spec, from: 0, to: undefined };
  const r = { file: m[1], from: m[2] ? Number(m[2]) : 0, to: m[3] ? Number(m[3]) : undefined };
  if (r.to !== undefined && r.from >= r.to) {
    throw new HaloError('E_ARG', `data spec '${spec}' selects no rows: FROM ${r.from} is not before TO ${r.to} (FILE:FROM:TO takes rows FROM..TO-1)`);
  }
  return r;
}

/**
 * Reads 'a.jsonl,b.jsonl:0:400' — comma-separated FILE[:FROM:TO] specs — as one record list, in order.
 * `summary` has one describeRead line per file, with the rows each contributed; `source` names the files
 * (without row ranges) for messages that point at a record's line.
 */
export function readDataSpecs(specs: string, opts: ReadJsonlOptions = {}): { records: DataRecord[]; summary: string; source: string } {
  const parts = specs
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (parts.length === 0) throw new HaloError('E_ARG', `no data file given in '${specs}'`);
  const records: DataRecord[] = [];
  const lines: string[] = [];
  const files: string[] = [];
  for (const part of parts) {
    const spec = splitSpec(part);
    files.push(spec.file);
    const read = readJsonl(spec.file, opts);
    const rows = read.records.slice(spec.from, spec.to);
    if (rows.length === 0)
      throw new HaloError(
        'E_ARG',
        `data spec '${part}' selects no rows: ${spec.file} has ${read.records.length} record${read.records.length === 1 ? '' : 's'}`,
      );
    records.push(...rows);
    lines.push(`${describeRead(read)}; using ${rows.length}`);
  }
  return { records, summary: lines.join('\n'), source: files.join(',') };
}
