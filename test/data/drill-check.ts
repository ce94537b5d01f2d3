// What every text-to-SQL drill must satisfy, made by scripts/sql-drills.ts or shipped in data/sql/drills.jsonl:
// the answer's table is the schema's, its columns are the schema's, and each quoted value is in the question.
import assert from 'node:assert/strict';

export function assertDrill(user: string, answer: string): void {
  const m = /CREATE TABLE (\S+) \((.*)\)\s*question: ([\s\S]*)$/.exec(user);
  assert.ok(m, user);
  const [, table, cols, question] = m;
  assert.match(answer, new RegExp(`FROM ${table}\\b`), `${answer} / ${table}`);
  for (const c of cols.split(', ').map((c) => c.split(' ')[0])) assert.ok(answer.includes(c) || /COUNT|\*/.test(answer), `${c} in ${answer}`);
  for (const [, v] of answer.matchAll(/'([^']+)'/g)) assert.ok(question.toLowerCase().includes(v.toLowerCase()), `'${v}' in "${question}"`);
}
