// route() on a preferred backend, falling back to the reference when that path does not run the spec
// yet (SwitchyardError 'backend'), so the demo shows every router and says which path computed it.
import { route } from '../api/route.js';
import { SwitchyardError } from '../errors.js';
import type { BackendName, RouterInput, RouterSpec, Routing } from '../spec/types.js';

export async function routeOn(spec: RouterSpec, input: RouterInput, backend: BackendName): Promise<Routing> {
  try {
    return await route(spec, input, { backend });
  } catch (e) {
    if (!(e instanceof SwitchyardError && e.code === 'backend') || backend === 'reference') throw e;
    return route(spec, input, { backend: 'reference' });
  }
}
