// `halo tokenizer train`: learns a byte-level BPE tokenizer (Llama 3 layout, Llama 3 chat template) from
// .txt / .jsonl files and writes tokenizer.json, tokenizer_config.json and special_tokens_map.json.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HaloError } from '../../core/errors.ts';
import { readCorpus } from '../../data/corpus.ts';
import { byteLevelBpeFiles, LLAMA3_SPECIALS, type SplitName } from '../../tokenizer/byte-level-bpe.ts';
import { loadTokenizer } from '../../tokenizer/hf.ts';
import { countWords, learnBpeMerges } from '../../tokenizer/train-bpe.ts';
import { ProgressBar } from '../../train/progress.ts';
import type { Command } from '../command.ts';

export const tokenizerTrainCommand: Command = {
  name: 'tokenizer train',
  summary: 'Train a byte-level BPE tokenizer (HF tokenizer.json, Llama 3 layout and chat template) on text files',
  usage: 'halo tokenizer train --data a.txt,b.jsonl --vocab-size 8192 --out DIR',
  options: [
    { name: 'data', type: 'string', help: 'comma-separated .txt / .jsonl files', required: true },
    { name: 'vocab-size', type: 'int', help: 'total vocabulary: 256 bytes + merges + special tokens', default: 8192 },
    { name: 'min-frequency', type: 'int', help: 'never merge pairs seen fewer times', default: 2 },
    {
      name: 'split',
      type: 'string',
      help: "pre-tokenizer: llama3 (Llama 3's regex: a word takes the space before it) or words (a word takes the space after it, never the one before, so it has one spelling after a space, a bracket or a quote)",
      default: 'llama3',
      choices: ['llama3', 'words'],
    },
    { name: 'out', type: 'string', help: 'output folder', required: true },
  ],
  async run({ options: o }) {
    const vocabSize = o['vocab-size'] as number;
    const reserved = 256 + LLAMA3_SPECIALS.length;
    if (vocabSize < reserved) throw new HaloError('E_ARG', `--vocab-size must be at least ${reserved} (256 bytes + ${LLAMA3_SPECIALS.length} special tokens)`);
    const files = (o.data as string).split(',').filter(Boolean);
    const t0 = performance.now();
    const docs = readCorpus(files).map((r) => (r.kind === 'text' ? r.text : ''));
    // Every 50th document is held out to measure compression on text the merges did not see.
    const train = docs.filter((_, i) => i % 50 !== 49);
    const held = docs.filter((_, i) => i % 50 === 49);
    const split = o.split as SplitName;
    const counts = countWords(train, split);
    process.stderr.write(`${docs.length} documents, ${counts.size} distinct pre-tokens (${((performance.now() - t0) / 1000).toFixed(1)} s)\n`);
    const want = vocabSize - reserved;
    const bar = new ProgressBar('merges', want, { logEvery: 1000 });
    const merges = learnBpeMerges(counts, { merges: want, minFrequency: o['min-frequency'] as number, onProgress: (d) => bar.update(d) });
    if (merges.length < want)
      process.stderr.write(`only ${merges.length} pairs reached --min-frequency; the rest of the vocabulary is reserved special tokens\n`);
    const files_ = byteLevelBpeFiles(merges, vocabSize, 'llama3', split);
    const out = o.out as string;
    fs.mkdirSync(out, { recursive: true });
    fs.writeFileSync(path.join(out, 'tokenizer.json'), JSON.stringify(files_.tokenizer));
    fs.writeFileSync(path.join(out, 'tokenizer_config.json'), JSON.stringify(files_.tokenizerConfig, null, 2) + '\n');
    fs.writeFileSync(path.join(out, 'special_tokens_map.json'), JSON.stringify(files_.specialTokensMap, null, 2) + '\n');
    // Check what we wrote loads, and measure it on the held-out documents.
    const tok = loadTokenizer(out);
    let bytes = 0;
    let tokens = 0;
    for (const d of held) {
      bytes += Buffer.byteLength(d);
      tokens += tok.encode(d).length;
    }
    const secs = (performance.now() - t0) / 1000;
    process.stdout.write(
      JSON.stringify({
        vocabSize: tok.vocabSize,
        merges: merges.length,
        seconds: Math.round(secs * 10) / 10,
        heldOutBytesPerToken: tokens ? Math.round((bytes / tokens) * 100) / 100 : null,
      }) + '\n',
    );
    return 0;
  },
};
