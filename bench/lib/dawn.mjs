// One Dawn instance (the `webgpu` package) per process, shared by switchyard and onnxruntime-web so both
// run on the same adapter and device. A second create([]) in one process has crashed at teardown here
// (see the webgpu tests), so the benches never let switchyard create its own: they pass options.device.
let shared;

/** Limits raised to the adapter's, as switchyard's own device acquisition (ts/runtime/gpu-device.ts) does. */
const RAISED_LIMITS = ['maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize', 'maxStorageBuffersPerShaderStage', 'maxComputeInvocationsPerWorkgroup'];

/** @returns { gpu, adapter, device, adapterName } or throws when no adapter is offered */
export function dawnDevice() {
  shared ??= (async () => {
    const { create, globals } = await import('webgpu');
    for (const [name, value] of Object.entries(globals)) if (!(name in globalThis)) globalThis[name] = value;
    const gpu = create([]);
    const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) throw new Error('the webgpu package offers no adapter here');
    const requiredLimits = {};
    for (const name of RAISED_LIMITS) requiredLimits[name] = adapter.limits[name];
    const requiredFeatures = ['shader-f16', 'subgroups'].filter((f) => adapter.features.has(f));
    const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
    const info = adapter.info ?? {};
    const adapterName = [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || 'unknown adapter';
    return { gpu, adapter, device, adapterName };
  })();
  return shared;
}

/**
 * onnxruntime-web's WebGPU backend writes from views of its shared WASM memory (a SharedArrayBuffer);
 * browsers accept those in queue.writeBuffer, Dawn's Node binding rejects them ("Invalid argument").
 * This shim copies such views to an ordinary buffer first — extra host work charged to the peer, so the
 * peer's times are, if anything, pessimistic by one memcpy of each upload.
 */
export function acceptSharedViewsInWriteBuffer(device) {
  const proto = Object.getPrototypeOf(device.queue);
  if (proto.__switchyardBenchShim) return;
  const writeBuffer = proto.writeBuffer;
  proto.writeBuffer = function (buffer, offset, data, dataOffset = 0, size) {
    if (ArrayBuffer.isView(data) && data.buffer instanceof SharedArrayBuffer) {
      const unit = data.BYTES_PER_ELEMENT ?? 1;
      const start = data.byteOffset + dataOffset * unit;
      const length = size === undefined ? data.byteLength - dataOffset * unit : size * unit;
      return writeBuffer.call(this, buffer, offset, new Uint8Array(data.buffer, start, length).slice());
    }
    return writeBuffer.call(this, buffer, offset, data, dataOffset, size);
  };
  proto.__switchyardBenchShim = true;
}
