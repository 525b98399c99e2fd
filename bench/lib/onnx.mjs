// A minimal ONNX ModelProto encoder: just the fields the peer graphs need (MatMul, the com.microsoft MoE
// contrib op), written straight from onnx.proto's field numbers. Protobuf wire format: a key is
// (field << 3 | wire type), wire type 0 = varint, 2 = length-delimited, 5 = 32-bit.

/** TensorProto.DataType */
export const FLOAT = 1;

class Writer {
  constructor() {
    this.parts = [];
    this.length = 0;
  }
  bytes(b) {
    this.parts.push(b);
    this.length += b.length;
  }
  varint(v) {
    // Values here stay below 2^53 (sizes, dims), so plain arithmetic is exact.
    const out = [];
    let n = v;
    while (n >= 0x80) {
      out.push((n % 0x80) | 0x80);
      n = Math.floor(n / 0x80);
    }
    out.push(n);
    this.bytes(Uint8Array.from(out));
  }
  key(field, wire) {
    this.varint(field * 8 + wire);
  }
  int(field, v) {
    this.key(field, 0);
    this.varint(v);
  }
  float(field, v) {
    this.key(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.bytes(b);
  }
  blob(field, b) {
    this.key(field, 2);
    this.varint(b.length);
    this.bytes(b);
  }
  string(field, s) {
    this.blob(field, new TextEncoder().encode(s));
  }
  message(field, build) {
    const w = new Writer();
    build(w);
    this.blob(field, w.finish());
  }
  finish() {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

/** A float attribute even when the value is integral (activation_alpha = 1 must stay a FLOAT). */
export const f32 = (v) => ({ float: v });

/** AttributeProto: name 1, f 2, i 3, s 4, type 20 (FLOAT 1, INT 2, STRING 3). Integers are INT unless wrapped in f32(). */
function attribute(w, name, value) {
  w.string(1, name);
  if (typeof value === 'string') {
    w.string(4, value);
    w.int(20, 3);
  } else if (typeof value === 'number' && Number.isInteger(value)) {
    w.int(3, value);
    w.int(20, 2);
  } else {
    w.float(2, typeof value === 'number' ? value : value.float);
    w.int(20, 1);
  }
}

/** ValueInfoProto { name 1, type 2: TypeProto { tensor_type 1: { elem_type 1, shape 2: { dim 1: { dim_value 1 | dim_param 2 } } } } } */
function valueInfo(w, { name, dims }) {
  w.string(1, name);
  w.message(2, (type) => type.message(1, (tensor) => {
    tensor.int(1, FLOAT);
    tensor.message(2, (shape) => {
      for (const d of dims) shape.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
    });
  }));
}

/** TensorProto { dims 1, data_type 2, name 8, raw_data 9 } (raw data is little-endian, as ONNX requires). */
function initializer(w, { name, dims, data }) {
  for (const d of dims) w.int(1, d);
  w.int(2, FLOAT);
  w.string(8, name);
  w.blob(9, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}

/**
 * Encodes a single-graph model.
 * @param graph {
 *   nodes: { op, domain?, inputs: string[], outputs: string[], attributes?: Record<string, number|string|f32> }[],
 *   inputs/outputs: { name, dims: (number|string)[] }[],
 *   initializers: { name, dims: number[], data: Float32Array }[],
 *   opsets: { domain: string, version: number }[] }
 * @returns Uint8Array, the serialized ModelProto
 */
export function encodeModel({ nodes, inputs, outputs, initializers = [], opsets }) {
  const w = new Writer();
  w.int(1, 8); // ir_version 8 (ONNX 1.10+): understood by every runtime we load
  w.string(2, 'switchyard-bench'); // producer_name
  w.message(7, (g) => {
    nodes.forEach((node, i) => g.message(1, (n) => {
      for (const name of node.inputs) n.string(1, name);
      for (const name of node.outputs) n.string(2, name);
      n.string(3, `${node.op}_${i}`);
      n.string(4, node.op);
      for (const [name, value] of Object.entries(node.attributes ?? {})) n.message(5, (a) => attribute(a, name, value));
      if (node.domain) n.string(7, node.domain);
    }));
    g.string(2, 'bench');
    for (const t of initializers) g.message(5, (tw) => initializer(tw, t));
    for (const v of inputs) g.message(11, (vw) => valueInfo(vw, v));
    for (const v of outputs) g.message(12, (vw) => valueInfo(vw, v));
  });
  for (const { domain, version } of opsets) w.message(8, (o) => {
    o.string(1, domain);
    o.int(2, version);
  });
  return w.finish();
}

/** C[M, N] = A[M, K] · W[K, N], W a constant (so runtimes may pre-pack it, as they would for a model). */
export function matMulModel(K, N, w) {
  return encodeModel({
    nodes: [{ op: 'MatMul', inputs: ['A', 'W'], outputs: ['C'] }],
    inputs: [{ name: 'A', dims: ['M', K] }],
    outputs: [{ name: 'C', dims: ['M', N] }],
    initializers: [{ name: 'W', dims: [K, N], data: w }],
    opsets: [{ domain: '', version: 17 }],
  });
}
