// Exact-match scorers on awkward strings; the *-exact variants must behave as HALO's eval.py.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HaloError } from '../../src/core/errors.ts';
import {
  extractGsm8kNumber,
  getScorer,
  gsm8kExact,
  gsm8kFinalAnswer,
  gsm8kNumeric,
  normalizeSql,
  scoreAll,
  scorersFor,
  sqlExact,
  sqlNormalized,
} from '../../src/eval/scorers.ts';

describe('SQL', () => {
  const ref = "SELECT route_via FROM table_29202276_2 WHERE train_name = 'Parasuram Express'";

  test('sql-exact: equal after trimming, nothing else forgiven', () => {
    assert.ok(sqlExact(ref, ref));
    assert.ok(sqlExact(`  ${ref} \n`, ref));
    assert.ok(!sqlExact(ref + ';', ref));
    assert.ok(!sqlExact(ref.replace('SELECT', 'select'), ref));
    assert.ok(!sqlExact(ref.replace('FROM', 'FROM  '), ref));
  });

  test('sql-normalized: whitespace, trailing ;, case of unquoted words', () => {
    assert.ok(sqlNormalized(ref + ' ;  ', ref));
    assert.ok(sqlNormalized(ref.replace('SELECT', 'select').replace('  ', ' ').replace('FROM', 'FROM\n  '), ref));
    assert.ok(sqlNormalized('SELECT COUNT(*) FROM t;;', 'select count ( * ) from T'));
    assert.ok(sqlNormalized('SELECT a FROM t WHERE b<>1', 'SELECT a FROM t WHERE b <> 1'));
    assert.ok(sqlNormalized('SELECT a FROM t WHERE b<=1.5', 'SELECT a FROM t WHERE b <= 1.5'));
  });

  test('sql-normalized keeps literals and quoted identifiers verbatim', () => {
    assert.ok(!sqlNormalized(ref.replace('Parasuram Express', 'parasuram express'), ref));
    assert.ok(!sqlNormalized(ref.replace('Parasuram Express', 'Parasuram  Express'), ref));
    assert.ok(!sqlNormalized('SELECT "Name" FROM t', 'SELECT "name" FROM t'));
    assert.ok(!sqlNormalized('SELECT a FROM t WHERE b = 1', 'SELECT a FROM t WHERE b = 2'));
    assert.equal(normalizeSql("SELECT x FROM t WHERE n = 'O''Brien ; x' ;"), "select x from t where n = 'O''Brien ; x'");
    assert.equal(normalizeSql('SELECT [My Col] FROM `T 1`'), 'select [My Col] from `T 1`');
    assert.equal(normalizeSql("WHERE a = 'unterminated"), "where a = 'unterminated");
  });
});

describe('GSM8K', () => {
  const ref = 'Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips.\n#### 72';

  test('final answer string as HALO takes it', () => {
    assert.equal(gsm8kFinalAnswer(ref), '72');
    assert.equal(gsm8kFinalAnswer('a #### b #### 5  \n'), '5');
    assert.equal(gsm8kFinalAnswer('  no marker 72 '), 'no marker 72');
  });

  test('gsm8k-exact compares strings after the last ####', () => {
    assert.ok(gsm8kExact('blah\n#### 72  ', ref));
    assert.ok(gsm8kExact('####72', ref));
    assert.ok(!gsm8kExact('#### 72.', ref));
    assert.ok(!gsm8kExact('#### 72.0', ref));
    assert.ok(gsm8kExact('72', ref), 'without #### HALO compares the whole (stripped) prediction');
    assert.ok(!gsm8kExact('#### 1234', '#### 1,234'));
  });

  test('extracts the number after the last ####', () => {
    const cases: [string, number | null][] = [
      ['#### 1,234', 1234],
      ['#### $1,234.50.', 1234.5],
      ['#### 72.', 72],
      ['#### -5', -5],
      ['#### \u22125', -5],
      ['#### .5', 0.5],
      ['#### 0.50 dollars', 0.5],
      ['#### 1,234,567', 1234567],
      ['#### 3, then 4', 3],
      ['steps 12 #### 7 #### 9', 9],
      ['#### the answer is 18', 18],
      ['#### none', null],
      ['answer: 72', null],
      ['', null],
    ];
    for (const [s, want] of cases) assert.equal(extractGsm8kNumber(s), want, JSON.stringify(s));
  });

  test('gsm8k-numeric compares numbers', () => {
    assert.ok(gsm8kNumeric('#### 1,234', '#### 1234'));
    assert.ok(gsm8kNumeric('so $1,234.00.\n#### $1,234.00.  ', 'work\n#### 1234'));
    assert.ok(gsm8kNumeric('#### 72 ', ref));
    assert.ok(!gsm8kNumeric('#### 73', ref));
    assert.ok(!gsm8kNumeric('72', ref), 'no #### in the prediction: wrong');
    assert.ok(!gsm8kNumeric('#### x', '#### x'), 'no number on either side: wrong');
  });
});

describe('registry', () => {
  test('lookup, per-dataset lists, scoreAll', () => {
    assert.equal(getScorer('gsm8k-numeric').score('#### 1,000', '#### 1000'), true);
    assert.throws(
      () => getScorer('bleu'),
      (e: unknown) => e instanceof HaloError && e.code === 'E_ARG' && e.message.includes('sql-exact'),
    );
    assert.deepEqual(
      scorersFor('sql').map((s) => s.name),
      ['sql-exact', 'sql-normalized'],
    );
    assert.deepEqual(
      scorersFor('gsm8k').map((s) => s.name),
      ['gsm8k-exact', 'gsm8k-numeric'],
    );
    const r = scoreAll(['#### 1', '#### 2', '#### 3.'], ['#### 1', '#### 5', '#### 3'], getScorer('gsm8k-numeric'));
    assert.deepEqual(r, { scorer: 'gsm8k-numeric', correct: 2, total: 3, accuracy: 2 / 3, verdicts: [true, false, true] });
    assert.equal(scoreAll([], [], getScorer('sql-exact')).accuracy, 0);
    assert.throws(
      () => scoreAll(['a'], [], getScorer('sql-exact')),
      (e: unknown) => e instanceof HaloError && e.code === 'E_SHAPE',
    );
  });
});
