// Structure-aware JSON mutation: every slot (object member or array element) of a parsed document can be
// replaced by a hostile value, deleted, nudged (±1, ×1000, negated, made fractional), wrapped, retyped,
// duplicated as a repeated key, or given a hostile sibling. Text-level damage (truncation, stray bytes,
// BOM, lone surrogates) covers what a structural edit cannot: JSON that no longer parses.
import type { Rng } from '../../src/core/rng.ts';
import { hostileValue, HOSTILE_STRINGS, jsonText, longString, Raw, setOwn } from './hostile.ts';
import { chance, intIn, pick } from './pick.ts';

type Container = Record<string, unknown> | unknown[];

export interface Slot {
  parent: Container;
  key: string | number;
  /** Readable path for notes, e.g. model.vocab["a"] or shape[1]. */
  path: string;
}

const isContainer = (v: unknown): v is Container => typeof v === 'object' && v !== null && !(v instanceof Raw);

/** Every slot of a document, breadth-first, up to `max` (vocabularies can be large). */
export function slots(root: unknown, max = 20_000): Slot[] {
  const out: Slot[] = [];
  const queue: [Container, string][] = isContainer(root) ? [[root, '']] : [];
  for (let q = 0; q < queue.length && out.length < max; q++) {
    const [c, at] = queue[q]!;
    const keys: (string | number)[] = Array.isArray(c) ? c.map((_, i) => i) : Object.keys(c);
    for (const k of keys) {
      const path = typeof k === 'number' ? `${at}[${k}]` : /^[A-Za-z_]\w*$/.test(k) ? (at ? `${at}.${k}` : k) : `${at}[${JSON.stringify(k)}]`;
      out.push({ parent: c, key: k, path });
      const v = (c as Record<string | number, unknown>)[k];
      if (isContainer(v)) queue.push([v, path]);
    }
  }
  return out;
}

function get(s: Slot): unknown {
  return (s.parent as Record<string | number, unknown>)[s.key];
}

function set(s: Slot, v: unknown): void {
  if (Array.isArray(s.parent)) s.parent[s.key as number] = v;
  else setOwn(s.parent, String(s.key), v);
}

function nudge(rng: Rng, x: number): number {
  return pick(rng, [x + 1, x - 1, x * 2, x * 1000, -x, x + 0.5, x / 3, 0, x * 2 ** 40, x + 2 ** 53])!;
}

/** Applies one random edit to a slot; returns a note saying what it did. */
export function mutateSlot(rng: Rng, s: Slot): string {
  const v = get(s);
  switch (rng.int(9)) {
    case 0:
    case 1: {
      const h = hostileValue(rng);
      set(s, h);
      return `${s.path} = ${describe(h)}`;
    }
    case 2:
      if (Array.isArray(s.parent)) s.parent.splice(s.key as number, 1);
      else delete s.parent[s.key as string];
      return `delete ${s.path}`;
    case 3:
    case 4:
      if (typeof v === 'number') {
        const n = nudge(rng, v);
        set(s, n);
        return `${s.path}: ${v} → ${n}`;
      }
      if (typeof v === 'string') {
        const n = pick(rng, [v + pick(rng, HOSTILE_STRINGS), v.slice(0, -1), v.toUpperCase(), '', v + longString(rng, 10_000)]);
        set(s, n);
        return `${s.path} = ${describe(n)}`;
      }
      set(s, hostileValue(rng));
      return `${s.path} = hostile`;
    case 5: {
      const w = chance(rng, 0.5) ? [v] : { value: v };
      set(s, w);
      return `${s.path} wrapped in ${Array.isArray(w) ? 'an array' : 'an object'}`;
    }
    case 6: {
      const n =
        typeof v === 'number'
          ? String(v)
          : typeof v === 'string'
            ? Number.isFinite(Number(v)) && v.trim() !== ''
              ? Number(v)
              : v.length
            : Array.isArray(v)
              ? Object.fromEntries(v.map((x, i) => [String(i), x]))
              : isContainer(v)
                ? Object.values(v)
                : pick(rng, [0, '', [], {}]);
      set(s, n);
      return `${s.path} retyped to ${Array.isArray(n) ? 'array' : typeof n}`;
    }
    case 7: {
      // The member appears twice; JSON.parse keeps the second. (Arrays have no keys: a hostile element instead.)
      const h = hostileValue(rng);
      if (Array.isArray(s.parent)) {
        s.parent.push(h);
        return `appended ${describe(h)} to ${s.path.replace(/\[\d+\]$/, '')}`;
      }
      set(s, new Raw(`${jsonText(v)},${JSON.stringify(String(s.key))}:${jsonText(h)}`));
      return `${s.path} repeated as a duplicate key = ${describe(h)}`;
    }
    default: {
      const h = hostileValue(rng);
      if (Array.isArray(s.parent)) {
        s.parent.splice(intIn(rng, 0, s.parent.length), 0, h);
        return `inserted ${describe(h)} into ${s.path.replace(/\[\d+\]$/, '')}`;
      }
      const k = pick(rng, [...HOSTILE_STRINGS, 'x'.repeat(100_000)]);
      setOwn(s.parent, k, h);
      return `added key ${describe(k)} = ${describe(h)} beside ${s.path}`;
    }
  }
}

/** `n` random edits, each on a slot chosen among those `accept` takes (all when none does). */
export function mutateTree(rng: Rng, root: unknown, n: number, accept?: (path: string) => boolean): string[] {
  const notes: string[] = [];
  for (let i = 0; i < n; i++) {
    const all = slots(root);
    const chosen = accept ? all.filter((s) => accept(s.path)) : all;
    const pool = chosen.length ? chosen : all;
    if (!pool.length) break;
    notes.push(mutateSlot(rng, pick(rng, pool)));
  }
  return notes;
}

/** Text-level damage to a JSON (or any) document. */
export function damageText(rng: Rng, text: string): { text: string; note: string } {
  const at = rng.int(text.length + 1);
  switch (rng.int(9)) {
    case 0:
      return { text: text.slice(0, at), note: `truncated to ${at} chars` };
    case 1: {
      const len = intIn(rng, 1, 16);
      return { text: text.slice(0, at) + text.slice(at + len), note: `deleted ${len} chars at ${at}` };
    }
    case 2: {
      const c = pick(rng, ['{', '}', '[', ']', '"', ',', ':', '\\', '\u0000', '\ud800', '\ufeff', '\n', 'e', '-', '0']);
      return { text: text.slice(0, at) + c + text.slice(at), note: `inserted ${JSON.stringify(c)} at ${at}` };
    }
    case 3: {
      const c = String.fromCharCode(rng.int(128));
      return { text: text.slice(0, at) + c + text.slice(at + 1), note: `char ${at} → ${JSON.stringify(c)}` };
    }
    case 4:
      return { text: '\ufeff' + text, note: 'BOM prepended' };
    case 5: {
      const from = rng.int(text.length + 1);
      const span = text.slice(from, from + intIn(rng, 1, 200));
      return { text: text.slice(0, at) + span + text.slice(at), note: `duplicated ${span.length} chars from ${from} at ${at}` };
    }
    case 6:
      return { text: text.replace(/"/g, "'"), note: 'single quotes' };
    case 7:
      return { text: text + pick(rng, [',', ' garbage', '}', '\u0000', '\n{}']), note: 'trailing junk' };
    default:
      return { text: text.replace(/\n/g, '\r\n'), note: 'CRLF line ends' };
  }
}

/** Short description of a value for notes (never the whole of a long string or deep nest). */
export function describe(v: unknown): string {
  if (v instanceof Raw) return v.text.length > 60 ? `raw ${v.text.slice(0, 40)}… (${v.text.length} chars)` : `raw ${v.text}`;
  if (typeof v === 'string') return v.length > 60 ? `string of ${v.length} chars (${JSON.stringify(v.slice(0, 10))}…)` : JSON.stringify(v);
  const t = jsonText(v);
  return t.length > 60 ? `${t.slice(0, 40)}… (${t.length} chars)` : t;
}
