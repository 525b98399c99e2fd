// Where the Node tests find ../shared/goldens: SWITCHYARD_GOLDENS when set (a checkout elsewhere, e.g. a
// clean copy under /tmp), as the runtime lanes read it too.
import { pathToFileURL } from 'node:url';

const fromEnv = process.env.SWITCHYARD_GOLDENS;
/** The goldens directory, as a URL ending in '/'. */
export const GOLDENS_DIR: URL = fromEnv
  ? pathToFileURL(fromEnv.endsWith('/') ? fromEnv : `${fromEnv}/`)
  : new URL('../../../shared/goldens/', import.meta.url);
