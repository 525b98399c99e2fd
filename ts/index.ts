// The public API of switchyard (DESIGN.md §3). This file only re-exports.
export { route } from './api/route.js';
export { createMoE } from './api/create-moe.js';
export { fromHuggingFace } from './api/from-hugging-face.js';
export { readSafetensors, readSafetensorsHeader, safetensorsHeaderSize } from './formats/safetensors.js';
export { toFloat32 } from './formats/dtype.js';
export type { SafetensorsEntry, SafetensorsFile, SafetensorsHeader } from './formats/safetensors.js';
export type { HuggingFaceArgs } from './formats/huggingface.js';
export { moeLayers, shardsForLayer, type SafetensorsIndex } from './formats/layers.js';
export { SwitchyardError } from './errors.js';
export type { SwitchyardErrorCode } from './errors.js';
export type * from './spec/types.js';
export { routers } from './routing/presets.js';
export { RouterMonitor } from './routing/monitor.js';
export type { RouterMonitorOptions } from './routing/monitor.js';
export { updateExpertBias } from './routing/expert-bias.js';
export { balancedHashTable } from './routing/hash-table.js';
