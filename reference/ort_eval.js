// Run an ONNX model in ONNX Runtime (npm onnxruntime-node, CPU) on images of
// any shape and write its first output.
//
//     node ort_eval.js MODEL.onnx INPUT.f32 N C H W OUT.f32 [BATCH]
//     node ort_eval.js --manifest JOBS.json
//
// A manifest is a JSON array of jobs, {"model", "input", "n", "c", "h",
// "w", "out"} each, and optionally "batch" (images per run, default 500;
// a model of a fixed batch takes exactly that many), "flat" (true: the
// images go in as [N, C*H*W]) and "plane" (true: as [N, H, W], C 1),
// run one after another in one process: tests that check many small graphs
// pay Node.js's start-up once.
//
// INPUT.f32 holds N images as raw little-endian float32, shape [N, C, H, W];
// H and W given as "-" leave those axes out, so that a model of flat
// inputs gets [N, C] (an MLP's [N, 784]); C given as "-" leaves the
// channel axis out, [N, H, W], for a model of grey images without one;
// the model's first input gets them 500 at a time (the model needs a dynamic
// batch axis). The first output, which must be float32 [N, classes] (logits,
// probabilities or log-probabilities alike), goes to OUT.f32 as raw
// little-endian float32, written to a temporary file and renamed into place.
// Two intra-op threads, as ort_logits.js. reference/onnx_zoo.py uses it for
// the figures in testdata/onnx/expected.json.
'use strict';

const fs = require('fs');
const ort = require('onnxruntime-node');

const BATCH = 500;

function positive(name, arg) {
  const v = Number(arg);
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer, got ${arg}`);
  return v;
}

async function main() {
  const args = process.argv.slice(2);
  if (args.length === 2 && args[0] === '--manifest') {
    const jobs = JSON.parse(fs.readFileSync(args[1], 'utf8'));
    for (const j of jobs) {
      let [c, h, w] = j.flat ? [String(j.c * j.h * j.w), '-', '-'] : [String(j.c), String(j.h), String(j.w)];
      if (j.plane) c = '-';
      await evaluate(j.model, j.input, String(j.n), c, h, w, j.out, j.batch);
    }
    return;
  }
  if (args.length !== 7 && args.length !== 8) {
    throw new Error('usage: node ort_eval.js MODEL.onnx INPUT.f32 N C H W OUT.f32 [BATCH] | --manifest JOBS.json');
  }
  await evaluate(...args);
}

async function evaluate(modelPath, inputPath, nArg, cArg, hArg, wArg, outPath, batchArg) {
  const n = positive('N', nArg);
  const batch = batchArg === undefined ? BATCH : positive('batch', String(batchArg));
  const plane = cArg === '-';
  const c = plane ? 1 : positive('C', cArg);
  const flat = hArg === '-' && wArg === '-';
  const h = flat ? 1 : positive('H', hArg);
  const w = flat ? 1 : positive('W', wArg);
  const size = c * h * w;

  const raw = fs.readFileSync(inputPath);
  if (raw.length !== n * size * 4) {
    throw new Error(`${inputPath}: ${raw.length} bytes, want ${n} x ${c} x ${h} x ${w} float32 = ${n * size * 4}`);
  }
  // Copy into an aligned buffer; read element by element as little-endian.
  const input = new Float32Array(n * size);
  for (let i = 0; i < input.length; i++) input[i] = raw.readFloatLE(4 * i);

  const session = await ort.InferenceSession.create(modelPath, {
    intraOpNumThreads: 2,
    interOpNumThreads: 1,
    executionProviders: ['cpu'],
  });
  const inName = session.inputNames[0];
  const outName = session.outputNames[0];

  // The classes are the first batch's; every batch must have as many.
  let classes = 0;
  let out = null;
  for (let first = 0; first < n; first += batch) {
    const k = Math.min(batch, n - first);
    const x = new ort.Tensor('float32', input.subarray(first * size, (first + k) * size), flat ? [k, c] : plane ? [k, h, w] : [k, c, h, w]);
    const result = await session.run({ [inName]: x });
    const y = result[outName];
    if (out === null && y.dims.length === 2) {
      classes = y.dims[1];
      out = Buffer.alloc(n * classes * 4);
    }
    if (y.type !== 'float32' || y.dims.length !== 2 || y.dims[0] !== k || y.dims[1] !== classes || classes < 1) {
      throw new Error(`${modelPath}: output ${outName} is ${y.type} [${y.dims}], want float32 [${k}, classes]`);
    }
    for (let i = 0; i < y.data.length; i++) out.writeFloatLE(y.data[i], 4 * (first * classes + i));
  }

  const tmp = outPath + '.tmp';
  fs.writeFileSync(tmp, out);
  fs.renameSync(tmp, outPath);
}

main().catch((err) => {
  console.error(`ort_eval: ${err.message}`);
  process.exit(1);
});
