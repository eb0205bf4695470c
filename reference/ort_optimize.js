// Write the graph ONNX Runtime runs after its own optimisations: a file
// "made by another tool" for lenetkit's importer to read.
//
//     node ort_optimize.js IN.onnx OUT.onnx [basic|extended]
//
// ONNX Runtime (npm onnxruntime-node) loads IN with graphOptimizationLevel
// basic (default: constant folding, redundant-node removal, Conv+BatchNorm
// and similar fusions into standard ONNX operators) and saves the optimised
// graph to OUT through optimizedModelFilePath.
'use strict';

const ort = require('onnxruntime-node');

async function main() {
  const [input, output, level = 'basic'] = process.argv.slice(2);
  if (!input || !output) throw new Error('usage: node ort_optimize.js IN.onnx OUT.onnx [basic|extended]');
  await ort.InferenceSession.create(input, {
    graphOptimizationLevel: level,
    optimizedModelFilePath: output,
    executionProviders: ['cpu'],
  });
}

main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
