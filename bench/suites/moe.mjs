export async function moeSuite() { throw new Error('todo'); }
