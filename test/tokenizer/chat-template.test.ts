// Chat templates under limits (src/tokenizer/chat-template.ts): a normal template renders exactly what
// @huggingface/jinja's own render() gives, and a template that loops, doubles or recurses without end stops with
// TemplateLimitError (from HfTokenizer: a one-line E_FORMAT naming the template file and the limit).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { Template } from '@huggingface/jinja';
import { HaloError } from '../../src/core/errors.ts';
import { CHATML_CHAT_TEMPLATE, LLAMA3_CHAT_TEMPLATE, makeTinyTokenizer } from '../../src/io/testing/tiny-tokenizer.ts';
import { writeTinyModelFolder } from '../../src/io/testing/tiny-model.ts';
import { ChatTemplate, DEFAULT_TEMPLATE_LIMITS, TemplateLimitError, type TemplateLimits } from '../../src/tokenizer/chat-template.ts';
import { HfTokenizer, loadTokenizer } from '../../src/tokenizer/hf.ts';
import { Rng } from '../../src/core/rng.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-chat-template-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const HALO_TINY_TEMPLATE = (JSON.parse(fs.readFileSync('models/halo-tiny/tokenizer_config.json', 'utf8')) as { chat_template: string }).chat_template;

// Written for this test, with the Jinja features real templates use: system extraction, namespace, loop.last,
// slicing, filtered and reversed loops, dict items, macros, tojson, string methods, raise_exception.
const BUSY_TEMPLATE = [
  '{%- set ns = namespace(last_user=-1, n=0) %}',
  '{%- for m in messages[::-1] %}{%- if m.role == "user" and ns.last_user < 0 %}{%- set ns.last_user = messages|length - 1 - loop.index0 %}{%- endif %}{%- endfor %}',
  '{%- macro show(m, i) %}[{{ i }}:{{ m.role|upper }}]{{ m.content.split("</think>")[-1].strip() }}{% endmacro %}',
  '{%- if messages and messages[0].role == "system" %}SYS {{ messages[0].content|trim }}\n{%- set rest = messages[1:] %}{%- else %}{%- set rest = messages %}{%- endif %}',
  '{%- for m in rest if m.role != "tool" %}{{ show(m, loop.index) }}{% if loop.last %}!{% endif %}{%- set ns.n = ns.n + 1 %}{%- endfor %}',
  '{%- for k, v in {"a": 1, "b": [1, 2]}.items() %} {{ k }}={{ v|tojson }}{%- endfor %}',
  ' last_user={{ ns.last_user }} n={{ ns.n }}{% for i in range(2, 9, 3) %},{{ i }}{% endfor %}{% for i in range(3) %}{{ i }}{% endfor %}',
  '{%- if messages|length > 0 and messages[-1].role == "oops" %}{{ raise_exception("bad role") }}{%- endif %}',
  '{%- if add_generation_prompt %}\nASSISTANT:{%- endif %}',
].join('\n');

const LLAMA32_STYLE_TEMPLATE = [
  '{{- bos_token }}',
  '{%- if not date_string is defined %}{%- set date_string = strftime_now("%d %b %Y") %}{%- endif %}',
  "{%- if messages[0]['role'] == 'system' %}{%- set system_message = messages[0]['content'] | trim %}{%- set messages = messages[1:] %}",
  '{%- else %}{%- set system_message = "" %}{%- endif %}',
  '{{- "<|start_header_id|>system<|end_header_id|>\\n\\nToday Date: " + date_string + "\\n\\n" + system_message + "<|eot_id|>" }}',
  "{%- for message in messages %}{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{%- endfor %}",
  "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}",
].join('\n');

function conversation(rng: Rng, n: number): { role: string; content: string }[] {
  const roles = ['system', 'user', 'assistant', 'tool'];
  const pieces = ['SELECT * FROM t;', ' héllo 🤗 ', '\n\n', '<think>hm</think> ok', '  ', '日本語', '{{ not code }}', '"quoted"'];
  return Array.from({ length: n }, (_, i) => ({
    role: i === 0 ? 'system' : roles[1 + rng.int(3)]!,
    content: Array.from({ length: 1 + rng.int(6) }, () => pieces[rng.int(pieces.length)]!).join(''),
  }));
}

function vars(messages: unknown[], addGenerationPrompt: boolean): Record<string, unknown> {
  return {
    messages,
    add_generation_prompt: addGenerationPrompt,
    bos_token: '<s>',
    eos_token: '</s>',
    pad_token: '',
    unk_token: '',
    date_string: '01 Jan 2025',
  };
}

function limitError(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof TemplateLimitError && re.test(e.message), String(re));
}

const small = (l: Partial<TemplateLimits>): TemplateLimits => ({ ...DEFAULT_TEMPLATE_LIMITS, ...l });

describe('ChatTemplate renders what @huggingface/jinja renders', () => {
  const templates = {
    halo_tiny: HALO_TINY_TEMPLATE,
    llama3: LLAMA3_CHAT_TEMPLATE,
    chatml: CHATML_CHAT_TEMPLATE,
    llama32: LLAMA32_STYLE_TEMPLATE,
    busy: BUSY_TEMPLATE,
  };
  for (const [name, src] of Object.entries(templates)) {
    it(`${name}: random conversations of 1 to 300 messages, with and without the generation prompt`, () => {
      const rng = new Rng(7);
      const t = new ChatTemplate(src);
      const lib = new Template(src);
      for (const n of [1, 2, 3, 5, 8, 40, 300]) {
        for (const gen of [false, true]) {
          const v = vars(conversation(rng, n), gen);
          assert.equal(t.render(v), lib.render(v), `${name}, ${n} messages, generation prompt ${gen}`);
        }
      }
    });
  }

  it("range() gives the library's lists, including its odd arguments", () => {
    for (const args of ['5', '0', '-3', '2, 10, 3', '10, 0, -2', '0, 1, 0.25', '"3"', '3, 3']) {
      const src = `{% for i in range(${args}) %}{{ i }},{% endfor %}`;
      assert.equal(new ChatTemplate(src).render({}), new Template(src).render({}), `range(${args})`);
    }
    const zero = '{% for i in range(1, 5, 0) %}{% endfor %}';
    assert.throws(() => new ChatTemplate(zero).render({}), /step must not be zero/);
  });

  it('strftime_now: the same directives as the library, in local time', () => {
    const src = '{{ strftime_now("%Y-%m-%d %H:%M %b %B %% %S") }}';
    const before = new Template(src).render({});
    const ours = new ChatTemplate(src).render({});
    const afterwards = new Template(src).render({});
    assert.ok(ours === before || ours === afterwards, `${ours} vs ${before} / ${afterwards}`);
    assert.match(ours, /^\d{4}-\d\d-\d\d \d\d:\d\d \S+ \S+ % %S$/);
  });

  it('20,000 messages render under the default limits', () => {
    const messages = Array.from({ length: 20_000 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: `message ${i}` }));
    const out = new ChatTemplate(CHATML_CHAT_TEMPLATE).render(vars(messages, true));
    assert.equal(out, new Template(CHATML_CHAT_TEMPLATE).render(vars(messages, true)));
  });
});

describe('ChatTemplate limits', () => {
  it('range(10**9) and range(10**8) are refused before any list is built', () => {
    limitError(
      () => new ChatTemplate('{% for i in range(10**9) %}x{% endfor %}').render({}),
      /range\(\) for 1,000,000,000 items, over its limit of 100,000 loop iterations/,
    );
    limitError(() => new ChatTemplate('{{ range(10**8)|length }}').render({}), /range\(\) for 100,000,000 items/);
    limitError(() => new ChatTemplate('{{ range(5)|length }}').render({}, small({ loopIterations: 4 })), /range\(\) for 5 items, over its limit of 4/);
    assert.equal(new ChatTemplate('{{ range(4)|length }}').render({}, small({ loopIterations: 4 })), '4');
  });

  it('nested loops stop when the inner loop would go past the limit, before running it', () => {
    let inner = 0;
    const t = new ChatTemplate('{% for i in range(100000) %}{% for j in range(100000) %}{{ tick() }}{% endfor %}{% endfor %}');
    limitError(() => t.render({ tick: () => void inner++ }), /limit of 100,000 loop iterations \(a loop over 100,000 items, 200,000 in all\)/);
    assert.equal(inner, 0, 'the inner loop never ran');
  });

  it('counts loops over lists, filtered lists and dicts; a loop up to the limit runs', () => {
    const l = small({ loopIterations: 10 });
    assert.equal(new ChatTemplate('{% for m in messages %}{{ m }}{% endfor %}').render({ messages: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] }, l), '12345678910');
    limitError(
      () => new ChatTemplate('{% for m in messages %}{% endfor %}{% for m in messages %}{% endfor %}').render({ messages: [1, 2, 3, 4, 5, 6] }, l),
      /limit of 10 loop iterations/,
    );
    limitError(() => new ChatTemplate('{% for m in messages if m > 100 %}{% endfor %}').render({ messages: Array(11).fill(1) }, l), /a loop over 11 items/);
    limitError(
      () => new ChatTemplate('{% for k in d %}{% endfor %}').render({ d: Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`k${i}`, i])) }, l),
      /a loop over 11 items/,
    );
  });

  it("text: output, strings built on the way and a loop's appended output are all counted", () => {
    limitError(
      () => new ChatTemplate('{% set ns = namespace(s="ab") %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}').render({}),
      /more than its limit of 1,048,576 characters of text \(1,048,576 \+ 64 × 0 input characters\)/,
    );
    // Each string counts where it is evaluated: 100 × messages[0], then the loop's result, then the template's.
    const l = small({ textChars: 4000, textCharsPerInputChar: 2 });
    const loop = new ChatTemplate('{% for i in range(100) %}{{ messages[0] }}{% endfor %}');
    assert.equal(loop.render({ messages: ['x'.repeat(10)] }, l).length, 1000, '3 × 1,000 characters, under 4,000 + 2 × 10');
    limitError(() => loop.render({ messages: ['x'.repeat(20)] }, l), /limit of 4,040 characters of text \(4,000 \+ 2 × 20 input characters\)/);
  });

  it('lists: no list longer than the limit', () => {
    limitError(
      () => new ChatTemplate('{% set ns = namespace(l=[1]) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}{% endfor %}').render({}),
      /built a list of 1,048,576 items, over its limit of 1,000,000/,
    );
  });

  it('time: a macro that calls itself twice per call stops at the time limit', () => {
    const t = new ChatTemplate('{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}');
    limitError(() => t.render({}, small({ timeMs: 50 })), /took longer than its time limit of 50 ms/);
  });

  it('a bare undefined from the library passes through as before', () => {
    assert.equal(
      new ChatTemplate('{% set x = [] | first %}{{ x is defined }}').render({}),
      new Template('{% set x = [] | first %}{{ x is defined }}').render({}),
    );
  });
});

describe('HfTokenizer: an over-limit template is one E_FORMAT line naming the template file and the limit', () => {
  const msgs = [{ role: 'user', content: 'hi' }];
  it('chat_template.jinja and tokenizer_config.json are named as the template file', () => {
    const dir = writeTinyModelFolder(path.join(tmp, 'jinja')).dir;
    const cfgFile = path.join(dir, 'tokenizer_config.json');
    const cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
    delete cfg.chat_template;
    fs.writeFileSync(cfgFile, JSON.stringify(cfg));
    fs.writeFileSync(path.join(dir, 'chat_template.jinja'), '{% for i in range(10**9) %}x{% endfor %}');
    const check = (e: unknown, file: string) =>
      e instanceof HaloError &&
      e.code === 'E_FORMAT' &&
      !e.message.includes('\n') &&
      e.message.startsWith(`${file}: chat template stopped: it called range() for 1,000,000,000 items, over its limit of 100,000 loop iterations`);
    assert.throws(
      () => loadTokenizer(dir).applyChatTemplate(msgs),
      (e: unknown) => check(e, path.join(dir, 'chat_template.jinja')),
    );
    fs.rmSync(path.join(dir, 'chat_template.jinja'));
    fs.writeFileSync(cfgFile, JSON.stringify({ ...cfg, chat_template: '{% for i in range(10**9) %}x{% endfor %}' }));
    assert.throws(
      () => loadTokenizer(dir).applyChatTemplate(msgs),
      (e: unknown) => check(e, `${cfgFile} (chat_template)`),
    );
  });

  it('limits can be set per tokenizer; other template errors stay E_ARG', () => {
    const f = makeTinyTokenizer(320);
    const tok = new HfTokenizer(
      f.tokenizer,
      { ...f.tokenizerConfig, chat_template: '{% for m in messages %}{{ m.content }}{% endfor %}' },
      { source: 'x', templateLimits: { loopIterations: 1 } },
    );
    assert.equal(tok.applyChatTemplate(msgs), 'hi');
    assert.throws(
      () => tok.applyChatTemplate([...msgs, ...msgs]),
      (e: unknown) => e instanceof HaloError && e.code === 'E_FORMAT' && /^x: chat template stopped: .*limit of 1 loop iterations/.test(e.message),
    );
    const raising = new HfTokenizer(f.tokenizer, { ...f.tokenizerConfig, chat_template: '{{ raise_exception("no") }}' }, { source: 'x' });
    assert.throws(
      () => raising.applyChatTemplate(msgs),
      (e: unknown) => e instanceof HaloError && e.code === 'E_ARG' && /x: chat template failed: no/.test(e.message),
    );
  });
});
