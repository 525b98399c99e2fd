// gather_by_expert: the dispatch plan on the device. From indices [nToken, nExpertUsed] it writes, for
// every expert e, its plan rows offsets[e] .. offsets[e+1] in ascending token order (rows, row_weights,
// row_slots), and the inverse map slot_row[t·k + j] = plan row, which combine reads.
// Grid: one workgroup per expert (linear id folded into x, y). A workgroup counts the assignments to
// experts below e (its offset) and to e (its count), then compacts its own assignments chunk by chunk
// with a workgroup prefix scan. Assignments are visited in slot order, and a token holds an expert at
// most once, so slot order is token order: the plan is deterministic, with no atomics.
// Knobs: WG_SIZE (power of two, for the scan). Work is O(nExpert · nToken · k): fine for the router
// sizes of today's MoEs; a count + scan split would be the step up for E in the thousands.

{{PARAMS}}

override WG_SIZE: u32 = 64u;

@group(0) @binding(0) var<uniform> params: GatherByExpertParams;
// indices: [nToken, nExpertUsed], −1 = no expert
@group(0) @binding(1) var<storage, read> indices: array<i32>;
// weights: [nToken, nExpertUsed]
@group(0) @binding(2) var<storage, read> weights: array<f32>;
// offsets: [nExpert + 1]
@group(0) @binding(3) var<storage, read_write> offsets: array<u32>;
// rows: [nToken · nExpertUsed] (first offsets[nExpert] used) token of each plan row
@group(0) @binding(4) var<storage, read_write> rows: array<u32>;
// row_weights: [nToken · nExpertUsed] mixing weight of each plan row
@group(0) @binding(5) var<storage, read_write> row_weights: array<f32>;
// row_slots: [nToken · nExpertUsed] t·k + j of each plan row
@group(0) @binding(6) var<storage, read_write> row_slots: array<u32>;
// slot_row: [nToken · nExpertUsed] plan row of each assignment; unwritten where indices is −1
@group(0) @binding(7) var<storage, read_write> slot_row: array<u32>;

var<workgroup> s_a: array<u32, WG_SIZE>;
var<workgroup> s_b: array<u32, WG_SIZE>;
var<workgroup> s_count: u32;

@compute @workgroup_size(WG_SIZE)
fn gather_by_expert(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u,
                    @builtin(local_invocation_index) lid: u32) {
  let e = wg.x + wg.y * nwg.x;
  if (e >= params.n_expert) {
    return;
  }
  let n_slot = params.n_slot;

  var before = 0u;
  var own = 0u;
  for (var s = lid; s < n_slot; s = s + WG_SIZE) {
    let x = indices[s];
    if (x >= 0) {
      before = before + select(0u, 1u, u32(x) < e);
      own = own + select(0u, 1u, u32(x) == e);
    }
  }
  s_a[lid] = before;
  s_b[lid] = own;
  workgroupBarrier();
  for (var stride = WG_SIZE / 2u; stride > 0u; stride = stride / 2u) {
    if (lid < stride) {
      s_a[lid] = s_a[lid] + s_a[lid + stride];
      s_b[lid] = s_b[lid] + s_b[lid + stride];
    }
    workgroupBarrier();
  }
  let offset = s_a[0];
  if (lid == 0u) {
    s_count = s_b[0];
    offsets[e] = offset;
    if (e == params.n_expert - 1u) {
      offsets[params.n_expert] = offset + s_b[0];
    }
  }
  // Uniform load: experts without assignments skip the compaction as a whole workgroup.
  let count = workgroupUniformLoad(&s_count);
  if (count == 0u) {
    return;
  }

  var base = offset;
  for (var c = 0u; c < n_slot; c = c + WG_SIZE) {
    let s = c + lid;
    var flag = 0u;
    if (s < n_slot) {
      flag = select(0u, 1u, indices[s] == i32(e));
    }
    // Inclusive Hillis–Steele scan of the flags over the chunk.
    s_a[lid] = flag;
    workgroupBarrier();
    for (var stride = 1u; stride < WG_SIZE; stride = stride * 2u) {
      var v = s_a[lid];
      if (lid >= stride) {
        v = v + s_a[lid - stride];
      }
      workgroupBarrier();
      s_a[lid] = v;
      workgroupBarrier();
    }
    if (flag == 1u) {
      let r = base + s_a[lid] - 1u;
      rows[r] = s / params.n_expert_used;
      row_weights[r] = weights[s];
      row_slots[r] = s;
      slot_row[s] = r;
    }
    base = base + s_a[WG_SIZE - 1u];
    workgroupBarrier();
  }
}
