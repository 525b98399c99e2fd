// `switchyard demo`'s arguments (dist/cli.js, built by npm test): a misspelt or stray one is refused in one
// line before the demo runs — it would otherwise run on the defaults — and --help prints the usage.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [cli, 'demo', ...args], { encoding: 'utf8', timeout: 60_000 });

describe('switchyard demo arguments', () => {
  it('refuses an unknown or stray argument, naming it, with exit code 1', () => {
    for (const [args, named] of [[['--tokenz', '5'], '--tokenz'], [['--tokens', '5', 'extra'], 'extra'], [['-t', '5'], '-t']] as const) {
      const r = run(...args);
      expect(r.status, args.join(' ')).toBe(1);
      expect(r.stderr.trim().split('\n')).toEqual([`switchyard: ${named}: unknown demo argument; expected --tokens N, --seed N, --repeats N`]);
      expect(r.stdout).toBe('');
    }
  });

  it('states the range a number flag takes: --seed from 0, --tokens from 1', () => {
    expect(run('--seed', '-1').stderr.trim()).toBe('switchyard: --seed: expected an integer ≥ 0, received "-1"');
    expect(run('--tokens', '0').stderr.trim()).toBe('switchyard: --tokens: expected an integer ≥ 1, received "0"');
  });

  it('prints the usage for --help and exits 0', () => {
    const r = run('--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^usage: switchyard demo \[--tokens N\]/);
  });
});
