// The Hugging Face hub's download cache (~/.cache/huggingface/hub/models--org--name): the files of each
// revision sit in snapshots/<commit>/ and refs/<branch> holds the commit a branch pointed to when it was
// downloaded. `switchyard inspect` accepts such a folder as the checkpoint of its main revision.
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { SwitchyardError } from '../errors.js';

/** A revision as refs/main names it (a 40-digit commit hash): a plain name, never a path such as '..'. */
const REVISION = /^\w[\w.-]*$/;

/**
 * The snapshot directory a hub cache folder stands for — refs/main's commit, else its only snapshot — or
 * undefined when dir is not a hub cache folder (no snapshots/ in it, or a config.json of its own). Several snapshots and no refs/main
 * is SwitchyardError 'config' listing them.
 */
export async function hubSnapshot(dir: string): Promise<string | undefined> {
  const snapshots = join(dir, 'snapshots');
  // A checkpoint directory that happens to hold a snapshots/ folder is read as itself.
  if (!(await isDirectory(snapshots)) || (await stat(join(dir, 'config.json')).then(() => true, () => false))) return undefined;
  const ref = await readRef(join(dir, 'refs', 'main'));
  if (ref !== undefined && REVISION.test(ref) && (await isDirectory(join(snapshots, ref)))) return join(snapshots, ref);
  const revisions = [];
  for (const name of (await readdir(snapshots)).sort()) {
    if (await isDirectory(join(snapshots, name))) revisions.push(name);
  }
  if (revisions.length === 1) return join(snapshots, revisions[0]);
  throw new SwitchyardError('config', dir,
    `expected a Hugging Face cache folder with refs/main or a single snapshot, found ${revisions.length === 0 ? 'no snapshot' : `snapshots ${revisions.join(', ')}`}: pass one of ${snapshots}/<commit>`);
}

/** A commit hash is 40 characters: a refs file longer than this is not one, and is not read whole. */
const MAX_REF_BYTES = 256;

/** The trimmed text of a refs file, or undefined where there is none (or something else under its name). */
async function readRef(path: string): Promise<string | undefined> {
  const size = await stat(path).then((s) => (s.isFile() ? s.size : undefined), () => undefined);
  if (size === undefined || size > MAX_REF_BYTES) return undefined;
  return readFile(path, 'utf8').then((s) => s.trim(), () => undefined);
}

async function isDirectory(path: string): Promise<boolean> {
  return stat(path).then((s) => s.isDirectory(), () => false);
}
