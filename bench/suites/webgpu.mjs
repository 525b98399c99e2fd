export async function webgpuSuite() { throw new Error('todo'); }
