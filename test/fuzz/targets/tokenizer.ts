// Fuzz target for src/tokenizer/hf.ts: a folder with a hostile tokenizer.json / tokenizer_config.json /
// chat_template.jinja, loaded with loadTokenizer and then used the way data/ and eval/ use it (encode, decode,
// special-token ids, the chat template). Edits aim at the vocabulary (string, huge, negative, fractional ids),
// merges, added_tokens, the pre-tokenizer / post-processor / decoder / normalizer configs, special-token
// fields and the template (including ones that loop, double or recurse without end: they must stop at the
// template limits of src/tokenizer/chat-template.ts). Once loaded, a tokenizer must keep TextTokenizer's
// promises: an integer vocabSize, integer ids inside it, and only HaloErrors from any of its methods.
import type { Rng } from '../../../src/core/rng.ts';
import { loadTokenizer } from '../../../src/tokenizer/hf.ts';
import { check, type FuzzCase, type FuzzTarget } from '../case.ts';
import { deepNesting, hostileValue, HOSTILE_NUMBERS, HOSTILE_STRINGS, jsonText, longString, setOwn } from '../hostile.ts';
import { damageText, describe, mutateTree } from '../mutate-json.ts';
import { chance, intIn, pick, weighted } from '../pick.ts';
import type { FileSet, Seeds } from '../seeds.ts';

type Json = Record<string, unknown>;

const SAMPLES = ['Hello world!', '', ' ', 'héllo 🤗 日本語', '<|eot_id|><|im_end|>', 'a\u0000b\r\n\t', 'x'.repeat(2000)];

/** Templates that parse but misbehave, or do not parse. */
const TEMPLATES = [
  '{% for m in messages %}{{ m.content }}',
  '{{ messages[1000].content }}',
  '{{ raise_exception("no") }}',
  '{% for i in range(20000) %}x{% endfor %}',
  '{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}',
  '{{ messages | tojson }}',
  '{{ bos_token + eos_token + unk_token + pad_token }}',
  '{{ x.y.z }}',
  '{% set x = 1 / 0 %}{{ x }}',
  '{{ "a" * 1000000 }}',
  '{%',
  '',
];

/** Templates over the limits: each must stop with a HaloError, in well under the hang limit and small. */
const RUNAWAY_TEMPLATES = [
  '{% for i in range(10**9) %}x{% endfor %}',
  '{{ range(10**8) | length }}',
  '{% for i in range(100000) %}{% for j in range(100000) %}{{ i }}{% endfor %}{% endfor %}',
  '{% for m in messages %}{% for i in range(60000) %}{{ m.content }}{% endfor %}{% endfor %}',
  '{% set ns = namespace(s="ab") %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}',
  '{% set ns = namespace(l=[0]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l | length }}',
  '{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}',
  '{% for i in range(99999) %}{% set x = messages | tojson %}{% endfor %}',
];

/** The default template limits, but a time limit under the case's 2 s hang limit (the rest are far faster). */
const TEMPLATE_LIMITS = { timeMs: 500 };

const SECTIONS = ['model', 'added_tokens', 'pre_tokenizer', 'post_processor', 'decoder', 'normalizer'];

function vocabEdit(rng: Rng, tj: Json): string {
  const model = tj.model as Json;
  const vocab = model.vocab as Json;
  const keys = Object.keys(vocab);
  const k = pick(rng, keys);
  switch (rng.int(6)) {
    case 0: {
      const v = pick(rng, [...HOSTILE_NUMBERS, '5', '999', null, [1], 2 ** 53, -1, 1.5]);
      setOwn(vocab, k, v);
      return `vocab[${JSON.stringify(k)}] = ${describe(v)}`;
    }
    case 1: {
      setOwn(vocab, pick(rng, [...HOSTILE_STRINGS, longString(rng, 100_000)]), pick(rng, [0, keys.length, 2 ** 31, 1e12]));
      return 'vocab: added a hostile token';
    }
    case 2:
      model.vocab = pick(rng, [{}, [], null, 'vocab', Object.fromEntries(keys.map((x, i) => [x, 0 * i]))]);
      return `vocab = ${describe(model.vocab)}`;
    case 3: {
      const m = model.merges as unknown[];
      const v = pick(rng, [[], null, 'merges', [['a']], [['a', 'b', 'c']], ['a b c'], [5], [[null, null]], m.concat(m), [['Ġ', 'nonexistent']]]);
      model.merges = v;
      return `merges = ${describe(v)}`;
    }
    case 4: {
      const f = pick(rng, ['type', 'unk_token', 'byte_fallback', 'fuse_unk', 'dropout', 'continuing_subword_prefix', 'ignore_merges']);
      const v = pick(rng, ['WordPiece', 'Unigram', 'WordLevel', 'Nope', null, 7, 0.5, 1.5, -1, true, 'x', hostileValue(rng)]);
      setOwn(model, f, v);
      return `model.${f} = ${describe(v)}`;
    }
    default: {
      const added = tj.added_tokens as Json[];
      const a = pick(rng, added);
      const f = pick(rng, ['id', 'content', 'special', 'normalized', 'lstrip']);
      const v = pick(rng, [2 ** 53, -1, 0.5, 'x', null, '', keys.length + 1000, true, longString(rng, 10_000)]);
      setOwn(a, f, v);
      return `added_tokens[].${f} = ${describe(v)}`;
    }
  }
}

function configEdit(rng: Rng, tc: Json): string {
  const f = pick(rng, ['bos_token', 'eos_token', 'pad_token', 'unk_token', 'chat_template', 'added_tokens_decoder', 'model_max_length']);
  const v = weighted(rng, [
    [2, () => pick(rng, ['<|eot_id|>', 'missing-token', '', null, 5, { content: '<|eot_id|>' }, { content: 5 }, ['<|eot_id|>']])],
    [2, () => (f === 'chat_template' ? pick(rng, TEMPLATES) : hostileValue(rng))],
    [1, () => pick(rng, [[{ name: 'default', template: pick(rng, TEMPLATES) }], [{ name: 5 }], [null], [], [{ template: '{{ 1 }}' }]])],
    [1, () => hostileValue(rng)],
  ] as const)();
  setOwn(tc, f, v);
  return `tokenizer_config.${f} = ${describe(v)}`;
}

function mutateTokenizer(rng: Rng, name: string, base: FileSet): FuzzCase {
  const files: Record<string, Uint8Array | string> = { ...base };
  const tj = JSON.parse(new TextDecoder().decode(base['tokenizer.json'])) as Json;
  const tc = JSON.parse(new TextDecoder().decode(base['tokenizer_config.json'])) as Json;
  const op = weighted(rng, [
    [4, 'vocab'],
    [4, 'tree'],
    [3, 'config'],
    [4, 'template'],
    [1, 'text'],
    [1, 'whole'],
    [1, 'files'],
  ] as const);
  const note = ((): string => {
    switch (op) {
      case 'vocab': {
        const n = vocabEdit(rng, tj);
        files['tokenizer.json'] = jsonText(tj);
        return n;
      }
      case 'tree': {
        const section = pick(rng, SECTIONS);
        const notes = mutateTree(rng, tj, intIn(rng, 1, 3), (p) => p.startsWith(section));
        files['tokenizer.json'] = jsonText(tj);
        return notes.join('; ');
      }
      case 'config': {
        const notes: string[] = [];
        for (let i = intIn(rng, 1, 2); i > 0; i--) notes.push(chance(rng, 0.7) ? configEdit(rng, tc) : mutateTree(rng, tc, 1).join(''));
        files['tokenizer_config.json'] = jsonText(tc);
        return notes.join('; ');
      }
      case 'template': {
        const t = typeof tc.chat_template === 'string' ? tc.chat_template : '';
        const v = weighted(rng, [
          [1, () => pick(rng, TEMPLATES)],
          [1, () => pick(rng, RUNAWAY_TEMPLATES)],
          [1, () => damageText(rng, t).text],
        ] as const)();
        if (chance(rng, 0.5)) {
          delete tc.chat_template;
          files['chat_template.jinja'] = v;
        } else tc.chat_template = v;
        files['tokenizer_config.json'] = jsonText(tc);
        return `chat template ${describe(v)}${files['chat_template.jinja'] !== undefined ? ' (in chat_template.jinja)' : ''}`;
      }
      case 'text': {
        const f = pick(rng, ['tokenizer.json', 'tokenizer_config.json']);
        const r = damageText(rng, new TextDecoder().decode(base[f]));
        files[f] = r.text;
        return `${f} text: ${r.note}`;
      }
      case 'whole': {
        const f = pick(rng, ['tokenizer.json', 'tokenizer_config.json']);
        const v = pick(rng, ['[]', 'null', '"x"', '7', '{}', '{"model":{}}', '{"model":null}', '{"model":{"type":"BPE"}}', deepNesting(rng, 100_000).text]);
        files[f] = v;
        return `${f} = ${describe(v)}`;
      }
      default: {
        const what = pick(rng, ['no tokenizer.json', 'only tokenizer.model', 'no tokenizer_config.json', 'tokenizer.json is a folder']);
        if (what !== 'no tokenizer_config.json') delete files['tokenizer.json'];
        else delete files['tokenizer_config.json'];
        if (what === 'only tokenizer.model') files['tokenizer.model'] = Uint8Array.from([0x0a, 0x0b]);
        if (what === 'tokenizer.json is a folder') files['tokenizer.json/'] = '';
        return what;
      }
    }
  })();
  return { files, note: `${name}: ${note}` };
}

const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'];

export function tokenizerTarget(seeds: Seeds): FuzzTarget {
  const bases = seeds.folders
    .filter((f) => f.name !== 'mistral-sharded')
    .map((f) => ({ name: f.name, files: Object.fromEntries(TOKENIZER_FILES.map((n) => [n, f.files[n]!])) }));
  return {
    name: 'tokenizer',
    generate(rng) {
      const b = pick(rng, bases);
      return mutateTokenizer(rng, b.name, b.files);
    },
    run(dir) {
      const tok = loadTokenizer(dir, { templateLimits: TEMPLATE_LIMITS });
      check(Number.isSafeInteger(tok.vocabSize) && tok.vocabSize >= 0, `vocabSize ${String(tok.vocabSize)} (${typeof tok.vocabSize})`);
      for (const id of [tok.bosId, tok.eosId, tok.padId]) check(id === null || (Number.isSafeInteger(id) && id >= 0 && id < tok.vocabSize), `special id ${id}`);
      const out: unknown[] = [];
      for (const s of SAMPLES) {
        const ids = tok.encode(s);
        for (const id of ids)
          check(
            Number.isSafeInteger(id) && id >= 0 && id < tok.vocabSize,
            `encode(${JSON.stringify(s.slice(0, 20))}) gave id ${id}, vocabSize ${tok.vocabSize}`,
          );
        out.push(ids, tok.decode(ids), tok.decode(ids, { skipSpecialTokens: true }));
      }
      out.push(tok.tokenId('<|eot_id|>'), tok.idToken(0));
      if (tok.chatTemplate !== null) {
        out.push(
          tok.applyChatTemplate(
            [
              { role: 'user', content: 'hi' },
              { role: 'assistant', content: 'hello' },
            ],
            { addGenerationPrompt: true, variables: { date_string: '1 Jan 2025' } },
          ),
        );
      }
      return out;
    },
  };
}
