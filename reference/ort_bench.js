// Time ONNX Runtime (npm onnxruntime-node, CPU, 2 intra-op threads) on an
// ONNX model: the deployment peer lenetkit's inference is measured against.
//
//     node ort_bench.js MODEL.onnx BATCH [SECONDS [DIMS]]
//
// Runs batches of BATCH random images for about SECONDS (default 3) after a
// warm-up, each image of the comma-separated per-image shape DIMS (default
// 1,32,32, the seed's; 28,28,1 for a Keras NHWC input), and prints one JSON line:
// {"batch": B, "runs": R, "images_per_s": X, "ms_per_batch": Y, "peak_rss_bytes": Z}.
'use strict';

const ort = require('onnxruntime-node');

async function main() {
  const [modelPath, batchArg, secondsArg, dimsArg] = process.argv.slice(2);
  const dims = (dimsArg || '1,32,32').split(',').map(Number);
  const batch = Number(batchArg);
  const seconds = secondsArg === undefined ? 3 : Number(secondsArg);
  if (!modelPath || !Number.isInteger(batch) || batch < 1 || !(seconds > 0) || !dims.every((d) => Number.isInteger(d) && d > 0)) {
    throw new Error('usage: node ort_bench.js MODEL.onnx BATCH [SECONDS [DIMS]]');
  }
  const session = await ort.InferenceSession.create(modelPath, {
    intraOpNumThreads: 2,
    interOpNumThreads: 1,
    executionProviders: ['cpu'],
  });
  const data = new Float32Array(batch * dims.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = Math.random();
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', data, [batch, ...dims]) };
  for (let i = 0; i < 20; i++) await session.run(feeds);
  let runs = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0;
  while (elapsed < seconds) {
    await session.run(feeds);
    runs++;
    elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  }
  // VmHWM: this process's own peak resident memory.
  const hwm = /VmHWM:\s+(\d+) kB/.exec(require('fs').readFileSync('/proc/self/status', 'utf8'));
  const peak = hwm ? Number(hwm[1]) * 1024 : 0;
  console.log(JSON.stringify({ batch, runs, images_per_s: (runs * batch) / elapsed, ms_per_batch: (1000 * elapsed) / runs, peak_rss_bytes: peak }));
}

main().catch((err) => {
  console.error(`ort_bench.js: ${err.message}`);
  process.exit(1);
});
