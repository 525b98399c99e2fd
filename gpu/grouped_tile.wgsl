// grouped_tile: not a kernel but a fragment, substituted for the GROUPED_TILE token of expert_ffn_up and
// expert_ffn_down. It maps a linear workgroup id to one output tile of the grouped GEMM (DESIGN.md §2):
// expert g of the group owns ceil(count_g / TILE_M) row tiles × params.tiles_n column tiles, laid out one
// expert after another, so walking the per-expert tile counts (read from offsets on the device, never
// from the CPU) finds the expert and the tile. The host sizes the grid for the worst case,
// tiles_n · (ceil(R / TILE_M) + min(nExpertGroup, R)); workgroups past the real count get NO_TILE.
// The including kernel declares `params` (expert_base, n_expert_group, tiles_n) and `offsets`.

const NO_TILE: u32 = 0xffffffffu;

// (expert within the group, first plan row, end plan row, first column), or x = NO_TILE.
fn grouped_tile(linear_id: u32, tile_m: u32, tile_n: u32) -> vec4u {
  var w = linear_id;
  for (var g = 0u; g < params.n_expert_group; g = g + 1u) {
    let begin = offsets[params.expert_base + g];
    let end = offsets[params.expert_base + g + 1u];
    let n_tiles = ((end - begin + tile_m - 1u) / tile_m) * params.tiles_n;
    if (w < n_tiles) {
      return vec4u(g, begin + (w / params.tiles_n) * tile_m, end, (w % params.tiles_n) * tile_n);
    }
    w = w - n_tiles;
  }
  return vec4u(NO_TILE, 0u, 0u, 0u);
}
