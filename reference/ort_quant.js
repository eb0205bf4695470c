// Run ONNX models in ONNX Runtime (npm onnxruntime-node, CPU) on tensors of
// any element type and write every output it asks for, whatever its type.
//
//     node ort_quant.js JOBS.json
//
// JOBS.json is a JSON array of jobs, run one after another in one process:
//
//     {"model": "M.onnx",
//      "inputs": [{"name": "x", "file": "x.bin", "type": "float32", "dims": [N, 1, 32, 32]}],
//      "outputs": ["y", ...],            (optional; default: all the model's outputs)
//      "batch": 128,                     (optional; default: all at once)
//      "optimization": "all",            (optional: all, extended, basic, disabled)
//      "out": "DIR"}
//
// Each input file holds the tensor's values as raw little-endian bytes in C
// order; type is one of float32, uint8, int8, int32, int64. With "batch" B,
// every input is cut along its first axis into slices of B (the last one
// shorter) and each slice runs on its own; the outputs' slices are joined
// again along their first axis (an output without a batch axis, such as a
// scale, must then come out the same from every slice, or the job fails).
// The outputs go to DIR/output_I.bin (raw little-endian, C order) in the
// order asked for, and DIR/outputs.json lists them: [{"name", "type",
// "dims", "file"}]. Every file is written to a temporary name and renamed
// into place. Two intra-op threads, as the other ort_*.js scripts use.
// "optimization" sets the session's graph optimization level: "all" is
// ONNX Runtime's default (it fuses QDQ groups into integer kernels),
// "disabled" runs every node as the file has it (ONNX Runtime's calibrator
// uses that). reference/quant_fixtures.py uses this script.
'use strict';

const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

const TYPES = {
  float32: {array: Float32Array, size: 4},
  uint8: {array: Uint8Array, size: 1},
  int8: {array: Int8Array, size: 1},
  int32: {array: Int32Array, size: 4},
  int64: {array: BigInt64Array, size: 8},
};

function product(dims) {
  return dims.reduce((a, b) => a * b, 1);
}

function readInput(spec) {
  const t = TYPES[spec.type];
  if (!t) throw new Error(`input ${spec.name}: type ${spec.type} is not one of ${Object.keys(TYPES)}`);
  const raw = fs.readFileSync(spec.file);
  const n = product(spec.dims);
  if (raw.length !== n * t.size) {
    throw new Error(`${spec.file}: ${raw.length} bytes, want ${spec.dims.join(' x ')} ${spec.type} = ${n * t.size}`);
  }
  // Copy into an aligned buffer (Node's file buffers need not be aligned);
  // the machine is little-endian, as the files are.
  const buf = new ArrayBuffer(raw.length);
  new Uint8Array(buf).set(raw);
  return {name: spec.name, type: spec.type, dims: spec.dims, data: new t.array(buf)};
}

function slice(input, first, count) {
  const inner = product(input.dims.slice(1));
  const data = input.data.subarray(first * inner, (first + count) * inner);
  return new ort.Tensor(input.type, data, [count, ...input.dims.slice(1)]);
}

function bytesOf(tensor) {
  const d = tensor.data;
  return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
}

function writeAtomic(file, data) {
  const tmp = file + '.tmp';
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

async function runJob(job) {
  const inputs = job.inputs.map(readInput);
  const level = job.optimization || 'all';
  if (!['all', 'extended', 'basic', 'disabled'].includes(level)) {
    throw new Error(`${job.model}: optimization ${level}: want all, extended, basic or disabled`);
  }
  const session = await ort.InferenceSession.create(job.model, {
    intraOpNumThreads: 2,
    interOpNumThreads: 1,
    executionProviders: ['cpu'],
    graphOptimizationLevel: level,
  });
  const outNames = job.outputs || session.outputNames;
  const n = inputs.length ? inputs[0].dims[0] : 1;
  const batch = job.batch || n;
  const pieces = outNames.map(() => []);
  for (let first = 0; first < n; first += batch) {
    const k = Math.min(batch, n - first);
    const feeds = {};
    for (const x of inputs) {
      if (job.batch && x.dims[0] !== n) {
        throw new Error(`${job.model}: input ${x.name} has ${x.dims[0]} rows, ${inputs[0].name} has ${n}`);
      }
      feeds[x.name] = job.batch ? slice(x, first, k) : new ort.Tensor(x.type, x.data, x.dims);
    }
    const result = await session.run(feeds, outNames);
    outNames.forEach((name, i) => pieces[i].push(result[name]));
  }
  fs.mkdirSync(job.out, {recursive: true});
  const listing = [];
  outNames.forEach((name, i) => {
    const parts = pieces[i];
    const type = parts[0].type;
    if (!TYPES[type]) throw new Error(`${job.model}: output ${name} is ${type}, which this script does not write`);
    let dims = parts[0].dims.slice();
    let data;
    const batched = parts.length > 1 && dims.length > 0 && parts.every((p) => p.dims.length === dims.length);
    if (parts.length === 1) {
      data = bytesOf(parts[0]);
    } else if (batched && parts.reduce((s, p) => s + p.dims[0], 0) === n) {
      dims[0] = n;
      data = Buffer.concat(parts.map(bytesOf));
    } else {
      // No batch axis: every slice must agree.
      const first = bytesOf(parts[0]);
      for (const p of parts) {
        if (!bytesOf(p).equals(first) || p.dims.join() !== parts[0].dims.join()) {
          throw new Error(`${job.model}: output ${name} has no batch axis and differs between slices`);
        }
      }
      data = first;
    }
    const file = `output_${i}.bin`;
    writeAtomic(path.join(job.out, file), data);
    listing.push({name, type, dims, file});
  });
  writeAtomic(path.join(job.out, 'outputs.json'), JSON.stringify(listing, null, 1) + '\n');
}

async function main() {
  const args = process.argv.slice(2);
  if (args.length !== 1) throw new Error('usage: node ort_quant.js JOBS.json');
  const jobs = JSON.parse(fs.readFileSync(args[0], 'utf8'));
  for (const job of jobs) await runJob(job);
}

main().catch((err) => {
  console.error(`ort_quant: ${err.message}`);
  process.exit(1);
});
