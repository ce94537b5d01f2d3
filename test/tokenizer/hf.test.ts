import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HaloError } from '../../src/core/errors.ts';
import { makeTinyTokenizer } from '../../src/io/testing/tiny-tokenizer.ts';
import { writeTinyModelFolder, type TinyModel } from '../../src/io/testing/tiny-model.ts';
import { HfTokenizer, loadTokenizer } from '../../src/tokenizer/hf.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-tok-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const newDir = () => path.join(tmp, `t${n++}`);

function expectErr(fn: () => unknown, code: string, re: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof HaloError && e.code === code && re.test(e.message), `${code} ${re}`);
}

const SAMPLES = [
  'Hello world!',
  'The quick brown fox jumps over the lazy dog.',
  '  leading and trailing spaces  ',
  'line one\nline two\r\n\ttabbed',
  "it's what they'LL do, isn't it?",
  'SELECT name FROM users WHERE age > 30;',
  'Natalia sold 48/2 = 24 clips. #### 72',
  'héllo wörld — naïve café',
  '日本語のテキスト',
  'emoji 🤗🚀 and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢',
  '12345678901234567890',
  'a',
];

describe('HfTokenizer (tiny Llama-3-style tokenizer)', () => {
  let tiny: TinyModel;
  let tok: HfTokenizer;
  before(() => {
    tiny = writeTinyModelFolder(newDir());
    tok = loadTokenizer(tiny.dir);
  });

  it('exposes vocabulary size and special ids', () => {
    assert.equal(tok.vocabSize, 320);
    assert.equal(tok.bosId, tiny.specialIds['<|begin_of_text|>']);
    assert.equal(tok.eosId, tiny.specialIds['<|eot_id|>']);
    assert.equal(tok.padId, null);
    assert.equal(tok.tokenId('<|eot_id|>'), tiny.specialIds['<|eot_id|>']);
    assert.equal(tok.tokenId('<|start_header_id|>'), tiny.specialIds['<|start_header_id|>']);
    assert.equal(tok.tokenId('<|no_such_token|>'), null);
  });

  it('round-trips text exactly through encode → decode', () => {
    for (const s of SAMPLES) {
      const ids = tok.encode(s);
      assert.ok(
        ids.every((i) => Number.isInteger(i) && i >= 0 && i < tok.vocabSize),
        s,
      );
      assert.equal(tok.decode(ids), s);
    }
    assert.deepEqual(tok.encode(''), []);
    assert.equal(tok.decode([]), '');
  });

  it('uses the learned merges (fewer tokens than bytes) and adds no special tokens', () => {
    const s = 'The quick brown fox jumps over the lazy dog.';
    const ids = tok.encode(s);
    assert.ok(ids.length < Buffer.byteLength(s) * 0.8, `${ids.length} tokens for ${Buffer.byteLength(s)} bytes`);
    assert.notEqual(ids[0], tok.bosId);
  });

  it('parses special-token text as the special token; decode can skip them', () => {
    const eot = tiny.specialIds['<|eot_id|>']!;
    const ids = tok.encode('Hi<|eot_id|>there');
    assert.ok(ids.includes(eot));
    assert.equal(ids.filter((i) => i === eot).length, 1);
    assert.equal(tok.decode(ids), 'Hi<|eot_id|>there');
    assert.equal(tok.decode(ids, { skipSpecialTokens: true }), 'Hithere');
  });

  it('renders the chat template, with and without the generation prompt', () => {
    const msgs = [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: ' What is 6 x 7? ' },
      { role: 'assistant', content: '42' },
      { role: 'user', content: 'And 6 x 8?' },
    ];
    const open = tok.applyChatTemplate(msgs, { addGenerationPrompt: true });
    assert.equal(
      open,
      '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>' +
        '<|start_header_id|>user<|end_header_id|>\n\nWhat is 6 x 7?<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\n42<|eot_id|>' +
        '<|start_header_id|>user<|end_header_id|>\n\nAnd 6 x 8?<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\n',
    );
    const closed = tok.applyChatTemplate(msgs);
    assert.ok(open.startsWith(closed));
    assert.ok(closed.endsWith('And 6 x 8?<|eot_id|>'));
    const ids = tok.encode(open);
    assert.equal(ids[0], tok.bosId, 'the template writes BOS; encode adds none');
    assert.equal(ids.filter((i) => i === tok.bosId).length, 1);
    assert.equal(ids.at(-1), tok.encode('\n\n').at(-1));
    assert.equal(tok.decode(ids), open);
  });

  it('rejects ids outside the vocabulary', () => {
    expectErr(() => tok.decode([1, 320]), 'E_ARG', /cannot decode token id 320/);
    expectErr(() => tok.decode([-1]), 'E_ARG', /token id -1/);
    expectErr(() => tok.decode([1.5]), 'E_ARG', /token id 1.5/);
  });
});

describe('HfTokenizer: ChatML (Qwen2-style) and template sources', () => {
  it('ChatML tokenizer: pad token, no BOS, generation prompt', () => {
    const t = writeTinyModelFolder(newDir(), { arch: 'qwen2', chat: 'chatml' });
    const tok = loadTokenizer(t.dir);
    assert.equal(tok.bosId, null);
    assert.equal(tok.eosId, t.specialIds['<|im_end|>']);
    assert.equal(tok.padId, t.specialIds['<|endoftext|>']);
    const s = tok.applyChatTemplate([{ role: 'user', content: 'Hi' }], { addGenerationPrompt: true });
    assert.equal(s, '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n');
    assert.equal(tok.decode(tok.encode(s)), s);
  });

  it('renders a Llama-3.2-style template: system extraction, date_string or strftime_now, raise_exception', () => {
    // Written for this test; uses the Jinja features real Llama 3.x templates rely on.
    const template = [
      '{{- bos_token }}',
      '{%- if not date_string is defined %}{%- set date_string = strftime_now("%d %b %Y") %}{%- endif %}',
      "{%- if messages[0]['role'] == 'system' %}",
      "  {%- set system_message = messages[0]['content'] | trim %}{%- set messages = messages[1:] %}",
      '{%- else %}{%- set system_message = "" %}{%- endif %}',
      '{{- "<|start_header_id|>system<|end_header_id|>\\n\\nToday Date: " + date_string + "\\n\\n" + system_message + "<|eot_id|>" }}',
      '{%- for message in messages %}',
      "  {%- if message.role not in ['user', 'assistant'] %}{{- raise_exception('unknown role ' + message.role) }}{%- endif %}",
      "  {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}",
      '{%- endfor %}',
      "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}",
    ].join('\n');
    const f = makeTinyTokenizer(320);
    const tok = new HfTokenizer(f.tokenizer, { ...f.tokenizerConfig, chat_template: template });
    const s = tok.applyChatTemplate(
      [
        { role: 'system', content: ' Answer in SQL. ' },
        { role: 'user', content: 'List users.' },
      ],
      { addGenerationPrompt: true, variables: { date_string: '01 Jan 2025' } },
    );
    assert.equal(
      s,
      '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nToday Date: 01 Jan 2025\n\nAnswer in SQL.<|eot_id|>' +
        '<|start_header_id|>user<|end_header_id|>\n\nList users.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
    );
    // Without date_string the template calls strftime_now: today's date, in "%d %b %Y".
    assert.match(tok.applyChatTemplate([{ role: 'user', content: 'x' }]), /Today Date: \d\d [A-Z][a-z]{2} \d{4}\n/);
    expectErr(() => tok.applyChatTemplate([{ role: 'tool', content: 'x' }]), 'E_ARG', /unknown role tool/);
  });

  it('reads chat_template.jinja when tokenizer_config.json has no template, and the list form', () => {
    const dir = writeTinyModelFolder(newDir()).dir;
    const cfgFile = path.join(dir, 'tokenizer_config.json');
    const cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
    delete cfg.chat_template;
    fs.writeFileSync(cfgFile, JSON.stringify(cfg));
    fs.writeFileSync(path.join(dir, 'chat_template.jinja'), '{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}');
    assert.equal(loadTokenizer(dir).applyChatTemplate([{ role: 'user', content: 'a' }]), '[user]a');
    fs.rmSync(path.join(dir, 'chat_template.jinja'));
    expectErr(() => loadTokenizer(dir).applyChatTemplate([{ role: 'user', content: 'a' }]), 'E_UNSUPPORTED', /no chat_template/);
    cfg.chat_template = [
      { name: 'tool_use', template: 'T' },
      { name: 'default', template: 'D{{ messages|length }}' },
    ];
    fs.writeFileSync(cfgFile, JSON.stringify(cfg));
    assert.equal(loadTokenizer(dir).applyChatTemplate([{ role: 'user', content: 'a' }]), 'D1');
  });

  it('template errors: syntax → E_FORMAT, raise_exception → E_ARG with its message', () => {
    const f = makeTinyTokenizer(320);
    const bad = new HfTokenizer(f.tokenizer, { ...f.tokenizerConfig, chat_template: '{% for m in messages %}' }, { source: 'bad' });
    expectErr(() => bad.applyChatTemplate([]), 'E_FORMAT', /^bad: chat template does not parse/);
    const strict = new HfTokenizer(f.tokenizer, {
      ...f.tokenizerConfig,
      chat_template: "{% if messages[0]['role'] != 'user' %}{{ raise_exception('Conversation must start with user') }}{% endif %}ok",
    });
    expectErr(() => strict.applyChatTemplate([{ role: 'assistant', content: 'x' }]), 'E_ARG', /Conversation must start with user/);
    assert.equal(strict.applyChatTemplate([{ role: 'user', content: 'x' }]), 'ok');
  });
});

describe('loadTokenizer errors', () => {
  it('missing folder / tokenizer.json / SentencePiece-only', () => {
    expectErr(() => loadTokenizer(path.join(tmp, 'nope')), 'E_IO', /no such model folder/);
    const d = newDir();
    fs.mkdirSync(d);
    expectErr(() => loadTokenizer(d), 'E_IO', /no tokenizer\.json in /);
    fs.writeFileSync(path.join(d, 'tokenizer.model'), 'x');
    expectErr(() => loadTokenizer(d), 'E_UNSUPPORTED', /SentencePiece tokenizer\.model.*tokenizer\.json/);
  });

  it('corrupt tokenizer.json or tokenizer_config.json', () => {
    const dir = writeTinyModelFolder(newDir()).dir;
    const tj = path.join(dir, 'tokenizer.json');
    const good = fs.readFileSync(tj, 'utf8');
    fs.writeFileSync(tj, good.slice(0, 100));
    expectErr(() => loadTokenizer(dir), 'E_FORMAT', /tokenizer\.json: not valid JSON/);
    fs.writeFileSync(tj, JSON.stringify({ ...JSON.parse(good), model: undefined }));
    expectErr(() => loadTokenizer(dir), 'E_FORMAT', /has no "model" object/);
    fs.writeFileSync(tj, JSON.stringify({ ...JSON.parse(good), model: { type: 'NoSuchModel' } }));
    expectErr(() => loadTokenizer(dir), 'E_FORMAT', /cannot build the tokenizer.*NoSuchModel/);
    fs.writeFileSync(tj, good);
    const tc = path.join(dir, 'tokenizer_config.json');
    const cfg = JSON.parse(fs.readFileSync(tc, 'utf8'));
    fs.writeFileSync(tc, JSON.stringify({ ...cfg, eos_token: '<|not_a_token|>' }));
    expectErr(() => loadTokenizer(dir), 'E_FORMAT', /eos_token '<\|not_a_token\|>' is not in the vocabulary/);
    fs.writeFileSync(tc, '[]');
    expectErr(() => loadTokenizer(dir), 'E_FORMAT', /tokenizer_config\.json is not a JSON object/);
    fs.writeFileSync(tc, JSON.stringify({ ...cfg, eos_token: { content: '<|eot_id|>', lstrip: false } }));
    assert.equal(loadTokenizer(dir).eosToken, '<|eot_id|>', 'AddedToken-dict form');
  });
});
