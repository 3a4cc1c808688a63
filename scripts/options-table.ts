/**
 * The configuration list of README.md, generated from POOL_OPTIONS (src/options.ts) and
 * OPTION_DOCS (src/options-docs.ts) so that the documentation cannot drift from the code.
 * `npm run docs:options` rewrites the table between the `<!-- options:start -->` and
 * `<!-- options:end -->` markers; with `--check` it only reports whether README.md is up to
 * date (exit code 1 if not); with `--print` it prints the table.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { POOL_OPTION_KEYS, POOL_OPTIONS, type PoolOptionKey } from '../src/options.js';
import { OPTION_DOCS } from '../src/options-docs.js';

export const README = fileURLToPath(new URL('../README.md', import.meta.url));
const START = '<!-- options:start -->';
const END = '<!-- options:end -->';

/**
 * The options as a Markdown list, one entry per option (variable, code name, type, default,
 * then its meaning wrapped at 100 columns): narrow, so a change to one option is a small diff.
 */
export function optionsTable(): string {
  return POOL_OPTION_KEYS.map((key) => {
    const head = `- \`${POOL_OPTIONS[key].env}\` (\`${key}\`): ${typeCell(key)}, default ${defaultCell(key)}.`;
    const description = wrap(OPTION_DOCS[key].description, WIDTH - INDENT.length);
    return [head, ...description.map((l) => INDENT + l)].join('\n');
  }).join('\n');
}

const WIDTH = 100;
const INDENT = '  ';

/** Greedy word wrap; a word longer than the width gets a line of its own. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') lines.push(line);
  return lines;
}

/** README text with the table between the markers replaced by the generated one. */
export function withOptionsTable(readme: string): string {
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (start === -1 || end < start) throw new Error(`README.md lacks ${START} ... ${END}`);
  return `${readme.slice(0, start + START.length)}\n\n${optionsTable()}\n\n${readme.slice(end)}`;
}

function defaultCell(key: PoolOptionKey): string {
  const { defaultText } = OPTION_DOCS[key];
  if (defaultText !== undefined) return defaultText;
  const value: unknown = POOL_OPTIONS[key].default;
  return value === undefined ? 'none' : `\`${String(value)}\``;
}

function typeCell(key: PoolOptionKey): string {
  const spec: { kind: string; min?: number; max?: number } = POOL_OPTIONS[key];
  switch (spec.kind) {
    case 'integer':
      return `integer, ${spec.min} – ${spec.max}`;
    case 'boolean':
      return 'boolean';
    case 'url':
      return 'URL';
    case 'file':
      return 'file path';
    case 'namespace':
      return 'CloudWatch namespace';
    case 'auth':
      return '`password` or `iam`';
    case 'cacheName':
      return 'ElastiCache cache name';
    default:
      return 'string';
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const mode = process.argv[2] ?? '--write';
  if (mode === '--print') {
    console.log(optionsTable());
  } else {
    const current = readFileSync(README, 'utf8');
    const updated = withOptionsTable(current);
    if (updated === current) {
      console.log('README.md: the configuration table is up to date');
    } else if (mode === '--check') {
      console.error('README.md: the configuration table is out of date; run npm run docs:options');
      process.exitCode = 1;
    } else {
      writeFileSync(README, updated);
      console.log('README.md: configuration table rewritten');
    }
  }
}
