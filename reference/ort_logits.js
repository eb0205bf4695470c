// Run an ONNX model in ONNX Runtime (npm onnxruntime-node, CPU) and write
// its logits.
//
//     node ort_logits.js MODEL.onnx INPUT.f32 N OUT.f32 [BATCH]
//
// INPUT.f32 holds N images as raw little-endian float32, shape [N, 1, 32, 32];
// the model's first input gets them BATCH at a time (default N, all at
// once; use 1 for a model exported with a fixed batch of 1). The first
// output's [N, 10] logits go to OUT.f32 as raw little-endian float32,
// written to a temporary file and renamed into place. Two intra-op threads,
// as the peer measurements use. The peer lenetkit's ONNX export is checked
// against; install with `npm ci --ignore-scripts` in this directory.
'use strict';

const fs = require('fs');
const ort = require('onnxruntime-node');

const SIZE = 1 * 32 * 32;
const CLASSES = 10;

async function main() {
  const args = process.argv.slice(2);
  if (args.length < 4 || args.length > 5) {
    throw new Error('usage: node ort_logits.js MODEL.onnx INPUT.f32 N OUT.f32 [BATCH]');
  }
  const [modelPath, inputPath, nArg, outPath] = args;
  const n = Number(nArg);
  const batch = args.length === 5 ? Number(args[4]) : n;
  if (!Number.isInteger(n) || n < 1 || !Number.isInteger(batch) || batch < 1) {
    throw new Error(`N and BATCH must be positive integers, got ${nArg} and ${args[4]}`);
  }

  const raw = fs.readFileSync(inputPath);
  if (raw.length !== n * SIZE * 4) {
    throw new Error(`${inputPath}: ${raw.length} bytes, want ${n} x 1 x 32 x 32 float32 = ${n * SIZE * 4}`);
  }
  // Copy into an aligned buffer; read element by element as little-endian.
  const input = new Float32Array(n * SIZE);
  for (let i = 0; i < input.length; i++) input[i] = raw.readFloatLE(4 * i);

  const session = await ort.InferenceSession.create(modelPath, {
    intraOpNumThreads: 2,
    interOpNumThreads: 1,
    executionProviders: ['cpu'],
  });
  const inName = session.inputNames[0];
  const outName = session.outputNames[0];

  const out = Buffer.alloc(n * CLASSES * 4);
  for (let first = 0; first < n; first += batch) {
    const k = Math.min(batch, n - first);
    const x = new ort.Tensor('float32', input.subarray(first * SIZE, (first + k) * SIZE), [k, 1, 32, 32]);
    const result = await session.run({ [inName]: x });
    const y = result[outName];
    if (y.type !== 'float32' || y.data.length !== k * CLASSES) {
      throw new Error(`${modelPath}: output ${outName} is ${y.type} [${y.dims}], want float32 [${k}, ${CLASSES}]`);
    }
    for (let i = 0; i < y.data.length; i++) out.writeFloatLE(y.data[i], 4 * (first * CLASSES + i));
  }

  const tmp = outPath + '.tmp';
  fs.writeFileSync(tmp, out);
  fs.renameSync(tmp, outPath);
}

main().catch((err) => {
  console.error(`ort_logits: ${err.message}`);
  process.exit(1);
});
