export async function routerSuite() { throw new Error('todo'); }
