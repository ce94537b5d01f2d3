// scripts/sql-eval-stats.ts: the figures halo-tiny's model card quotes about the SQL eval split.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { quotedValues, sqlEvalStats } from '../../scripts/sql-eval-stats.ts';

test('quotedValues reads single-quoted literals, with doubled quotes unescaped', () => {
  assert.deepEqual(quotedValues("SELECT a FROM t WHERE b = 'x y' AND c = 'o''neil'"), ['x y', "o'neil"]);
  assert.deepEqual(quotedValues('SELECT COUNT(a) FROM t WHERE b = 3'), []);
});

test('sqlEvalStats counts case-changed values and answers at or past the token budget', () => {
  const words = (s: string) => s.split(' ').length;
  const s = sqlEvalStats(
    [
      { question: 'Who played Marquette?', answer: "SELECT p FROM t WHERE o = 'marquette'" },
      { question: 'Score of 3-1 in round two?', answer: "SELECT s FROM t WHERE s = '3-1' AND r = 'two'" },
    ],
    words,
    9,
  );
  assert.deepEqual(s, { answers: 2, quoted: 3, quotedNotVerbatim: 1, longAnswers: 1 });
});
