#!/usr/bin/env node
// Why a Node program must keep the object that the `webgpu` npm package's create() returns (Dawn's Node
// bindings, 0.6.2) for as long as it uses a device from it. Here the GPU object is used once, to get the adapter,
// and then dropped: once the garbage collector takes it, the next rounds of a small compute job crash the
// process (SIGSEGV, or SIGABRT from a mutex in dawn::native::InstanceBase::ProcessEvents /
// CallbackTaskManager::Flush, or glibc's "malloc_consolidate(): unaligned fastbin chunk"), on lavapipe and on
// SwiftShader alike: the adapter and device do not keep Dawn's instance alive. A `const gpu = create([])` that
// nothing reads later is not enough either: V8 does not keep a dead local of a suspended async function
// (top-level await included). With KEEP=1 the object stays referenced and every round runs.
// switchyard takes an injected GPUDevice (options.device) and never sees the GPU object, so this is the caller's
// to hold — as test/node/dawn-device.ts does, through the provider closure.
// Usage: node scripts/dawn-gc-repro.mjs [rounds]   (exit 0 and "done": all rounds ran; ALLOC=0: no garbage
// between rounds, SYNC=1: createComputePipeline instead of the async form)
const { create, globals } = await import('webgpu');
Object.assign(globalThis, globals);
const gpu = create([]);
if (process.env.KEEP === '1') globalThis.keptGpu = gpu;
const adapter = await gpu.requestAdapter();
// (From here on nothing reads `gpu`: unless KEEP=1 stored it, it is garbage.)
if (!adapter) {
  console.log('no WebGPU adapter (Mesa Vulkan drivers installed?)');
  process.exit(1);
}
const device = await adapter.requestDevice();
const rounds = Number(process.argv[2] ?? 40);
const code = `@group(0) @binding(0) var<storage, read_write> a: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) {
  if (g.x < arrayLength(&a)) { a[g.x] = a[g.x] * 2.0 + 1.0; }
}`;
const n = 4096;
for (let round = 0; round < rounds; round++) {
  // Short-lived garbage, as any caller building its next inputs makes: the collector runs between rounds.
  if (process.env.ALLOC !== '0') {
    let kept = 0;
    for (let i = 0; i < 200000; i++) kept += [i].length;
    globalThis.kept = kept;
  }
  const data = device.createBuffer({ size: n * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(data, 0, new Float32Array(n).fill(round));
  const descriptor = { layout: 'auto', compute: { module: device.createShaderModule({ code }), entryPoint: 'main' } };
  const pipeline = process.env.SYNC === '1' ? device.createComputePipeline(descriptor) : await device.createComputePipelineAsync(descriptor);
  const read = device.createBuffer({ size: n * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const encoder = device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: data } }] }));
  pass.dispatchWorkgroups(n / 64);
  pass.end();
  encoder.copyBufferToBuffer(data, 0, read, 0, n * 4);
  device.queue.submit([encoder.finish()]);
  await read.mapAsync(GPUMapMode.READ);
  const value = new Float32Array(read.getMappedRange())[7];
  read.unmap();
  read.destroy();
  data.destroy();
  if (value !== round * 2 + 1) console.log(`round ${round}: read ${value}, expected ${round * 2 + 1}`);
}
console.log('done');
process.exit(0);
