/**
 * README.md's configuration table is generated from POOL_OPTIONS (scripts/options-table.ts):
 * this fails when someone edits one without the other.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { optionsTable, README, withOptionsTable } from '../../scripts/options-table.js';
import { POOL_OPTION_KEYS, POOL_OPTIONS } from '../../src/options.js';

describe('the configuration table in README.md', () => {
  it('is the one generated from POOL_OPTIONS (npm run docs:options rewrites it)', () => {
    const readme = readFileSync(README, 'utf8');
    expect(withOptionsTable(readme), 'README.md is out of date: run npm run docs:options').toBe(
      readme,
    );
  });

  it('has one entry per option, with its variable, its key and its default', () => {
    const rows = optionsTable()
      .split('\n')
      .filter((line) => line.startsWith('- '));
    expect(rows).toHaveLength(POOL_OPTION_KEYS.length);
    POOL_OPTION_KEYS.forEach((key, i) => {
      const { env, default: value } = POOL_OPTIONS[key];
      expect(rows[i]).toContain(`\`${env}\` (\`${key}\`)`);
      if (typeof value === 'number') expect(rows[i]).toContain(`\`${value}\``);
    });
  });
});
