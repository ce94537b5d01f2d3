// A chat template rendered under limits. The template is code from the model folder, and @huggingface/jinja
// runs it without any budget: `{% for i in range(10**9) %}` builds a billion-element array first (V8 dies with
// "invalid size" in seconds), `range(10**8)` takes 5 GB, and two nested `range(100000)` loops run for hours.
// The library's parser is used as is (so a template parses exactly as before), but the render goes through an
// Interpreter subclass: every node the library evaluates passes through `evaluate`, which is where the limits
// are counted, without forking the library.
//   - loop iterations: the items of every iterable a `for` walks are counted when the iterable has been
//     evaluated, before the loop body runs, so nested range() loops stop at once; `range()` itself refuses to
//     build more items than the limit (the array would be allocated before any loop could be counted);
//   - text: the characters of every string any expression evaluates to, summed, against a budget that grows
//     with the input (a fixed part + a multiple of the characters passed in): what a template outputs, what it
//     builds on the way (`s ~ s` doubling) and what a loop appends to its result are all counted as they appear;
//   - list items: no list longer than the limit (`l + l` doubling);
//   - time: wall-clock per rendering, checked every few hundred evaluations, the backstop for everything else
//     (a macro that calls itself twice per call, expensive filters within the other limits).
// Not covered: a single library builtin still runs to completion once called, so e.g. `s|replace("", t)` can
// allocate up to V8's largest string (about 512 M characters) before its result is counted.
import { Environment, Interpreter, Template } from '@huggingface/jinja';

// The package's index.d.ts re-exports these from './runtime' without an extension, which NodeNext resolution
// cannot follow; so the little of them used here is typed here.
interface RuntimeValue {
  type: string;
  value: unknown;
}
interface JinjaEnvironment {
  set(name: string, value: unknown): unknown;
}
interface JinjaInterpreter {
  run(program: unknown): RuntimeValue;
  evaluate(statement: object | undefined, environment: JinjaEnvironment): RuntimeValue;
}
const EnvironmentClass = Environment as unknown as new () => JinjaEnvironment;
const InterpreterClass = Interpreter as unknown as new (env: JinjaEnvironment) => JinjaInterpreter;

export interface TemplateLimits {
  /** Items all `for` loops of one rendering may walk, together (also the largest range()). */
  loopIterations: number;
  /** Characters of strings one rendering may evaluate: this much … */
  textChars: number;
  /** … plus this many per character of the input (messages and other variables). */
  textCharsPerInputChar: number;
  /** Items in any one list. */
  listItems: number;
  /** Wall-clock time of one rendering, in milliseconds. */
  timeMs: number;
}

// A real template walks the messages once or twice (loopIterations), evaluates each message's text a few
// times (textCharsPerInputChar: Qwen3's reasoning split is among the busiest, under 20×), and renders 20,000
// messages in about half a second on one slow core (timeMs).
export const DEFAULT_TEMPLATE_LIMITS: Readonly<TemplateLimits> = {
  loopIterations: 100_000,
  textChars: 1 << 20,
  textCharsPerInputChar: 64,
  listItems: 1_000_000,
  timeMs: 5_000,
};

/** A rendering went over one of its limits; the message says which and by what. */
export class TemplateLimitError extends Error {
  override name = 'TemplateLimitError';
}

type Program = Template['parsed'];

/** The nodes whose values `for` loops walk: each loop's iterable (for `for x in xs if c`, the `xs`). */
function loopIterables(program: Program): Set<object> {
  const found = new Set<object>();
  const seen = new Set<object>();
  const stack: unknown[] = [program];
  // Iterative and generic over node fields: a deeply nested template must not overflow the stack here.
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v !== 'object' || v === null || seen.has(v)) continue;
    seen.add(v);
    const node = v as { type?: unknown; iterable?: { type?: string; lhs?: object } };
    if (node.type === 'For' && node.iterable) found.add(node.iterable.type === 'SelectExpression' && node.iterable.lhs ? node.iterable.lhs : node.iterable);
    for (const child of Array.isArray(v) ? v : Object.values(v)) if (typeof child === 'object' && child !== null) stack.push(child);
  }
  return found;
}

/** Total characters of the strings in a plain JSON-like value (the template's input). */
function inputChars(value: unknown): number {
  let n = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') n += v.length;
    else if (typeof v === 'object' && v !== null) for (const c of Array.isArray(v) ? v : Object.values(v)) stack.push(c);
  }
  return n;
}

const fmt = (n: number): string => n.toLocaleString('en-US');

/** The library's Interpreter, with every evaluation counted against the limits. */
class BoundedInterpreter extends InterpreterClass {
  private iterations = 0;
  private chars = 0;
  private evaluations = 0;
  private readonly deadline: number;
  private readonly maxChars: number;

  constructor(
    env: JinjaEnvironment,
    private readonly iterables: Set<object>,
    private readonly limits: TemplateLimits,
    private readonly inputChars: number,
  ) {
    super(env);
    this.maxChars = limits.textChars + limits.textCharsPerInputChar * inputChars;
    this.deadline = performance.now() + limits.timeMs;
  }

  override evaluate(statement: object | undefined, environment: JinjaEnvironment): RuntimeValue {
    if ((++this.evaluations & 255) === 0 && performance.now() > this.deadline) {
      throw new TemplateLimitError(`took longer than its time limit of ${fmt(this.limits.timeMs)} ms`);
    }
    const v = super.evaluate(statement, environment);
    // Some library paths return a bare undefined (`[] | first`); it passes through as it did.
    if ((v as RuntimeValue | undefined) === undefined) return v;
    if (v.type === 'StringValue') {
      this.chars += (v.value as string).length;
      if (this.chars > this.maxChars) {
        throw new TemplateLimitError(
          `produced more than its limit of ${fmt(this.maxChars)} characters of text (${fmt(this.limits.textChars)} + ${this.limits.textCharsPerInputChar} × ${fmt(this.inputChars)} input characters)`,
        );
      }
    } else if (Array.isArray(v.value)) {
      const n = v.value.length;
      if (n > this.limits.listItems) throw new TemplateLimitError(`built a list of ${fmt(n)} items, over its limit of ${fmt(this.limits.listItems)}`);
    }
    if (statement !== undefined && this.iterables.has(statement)) {
      const n = Array.isArray(v.value) ? v.value.length : v.value instanceof Map ? v.value.size : 0;
      this.iterations += n;
      if (this.iterations > this.limits.loopIterations) {
        throw new TemplateLimitError(
          `went over its limit of ${fmt(this.limits.loopIterations)} loop iterations (a loop over ${fmt(n)} items, ${fmt(this.iterations)} in all)`,
        );
      }
    }
    return v;
  }
}

/** Python's range() as the library has it, refusing more than `max` items before building them. */
function boundedRange(max: number) {
  return (start: number, stop?: number, step = 1): number[] => {
    if (stop === undefined) {
      stop = start;
      start = 0;
    }
    if (step === 0) throw new Error('range() step must not be zero');
    const count = step > 0 ? Math.ceil((stop - start) / step) : Math.ceil((start - stop) / -step);
    if (count > max) throw new TemplateLimitError(`called range() for ${fmt(count)} items, over its limit of ${fmt(max)} loop iterations`);
    const out: number[] = [];
    // The comparisons of the library's range, so odd arguments give what they gave; the length check keeps a
    // NaN count (arguments that are not numbers) from looping past the limit.
    if (step > 0) for (let i = start; i < stop && out.length <= max; i += step) out.push(i);
    else for (let i = start; i > stop && out.length <= max; i += step) out.push(i);
    if (out.length > max) throw new TemplateLimitError(`called range() for more than ${fmt(max)} items, its limit of loop iterations`);
    return out;
  };
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** strftime_now as templates call it (Llama 3.x: "%d %b %Y"): the directives the library supports, local time. */
function strftimeNow(format: string): string {
  const d = new Date();
  return format.replace(/%[YmdbBHM%]/g, (t) => {
    switch (t) {
      case '%Y':
        return String(d.getFullYear());
      case '%m':
        return pad2(d.getMonth() + 1);
      case '%d':
        return pad2(d.getDate());
      case '%b':
        return new Intl.DateTimeFormat(undefined, { month: 'short' }).format(d);
      case '%B':
        return new Intl.DateTimeFormat(undefined, { month: 'long' }).format(d);
      case '%H':
        return pad2(d.getHours());
      case '%M':
        return pad2(d.getMinutes());
      default:
        return '%';
    }
  });
}

/** A parsed chat template; render() throws TemplateLimitError over a limit, the library's errors otherwise. */
export class ChatTemplate {
  private readonly parsed: Program;
  private readonly iterables: Set<object>;

  /** Throws the library's error when the template does not parse. */
  constructor(readonly source: string) {
    this.parsed = new Template(source).parsed;
    this.iterables = loopIterables(this.parsed);
  }

  render(variables: Record<string, unknown>, limits: TemplateLimits = DEFAULT_TEMPLATE_LIMITS): string {
    // The globals the library's own render() declares, in its order, with range() bounded.
    const env = new EnvironmentClass();
    env.set('false', false);
    env.set('true', true);
    env.set('none', null);
    env.set('raise_exception', (msg: string) => {
      throw new Error(msg);
    });
    env.set('range', boundedRange(limits.loopIterations));
    env.set('strftime_now', strftimeNow);
    env.set('True', true);
    env.set('False', false);
    env.set('None', null);
    for (const [k, v] of Object.entries(variables)) env.set(k, v);
    const out = new BoundedInterpreter(env, this.iterables, limits, inputChars(variables)).run(this.parsed);
    return out.value as string;
  }
}
