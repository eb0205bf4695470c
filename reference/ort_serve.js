// The serving peer of `lenetkit serve`: a small plain Node.js HTTP server
// (Node built-ins and npm onnxruntime-node only, no framework) that runs one
// ONNX classifier with ONNX Runtime on the same routes and JSON shapes.
//
//     node ort_serve.js --model FILE.onnx [--name NAME] [--port P] [--host H]
//                       [--threads N] [--labels FILE]
//
// --name defaults to the file's base name without extension, --host to
// 127.0.0.1, --port to 8080 (0: any free port). One InferenceSession is
// created at start and shared by every request; each request is one
// session.run. --threads sets intraOpNumThreads; by default it is left
// unset (0), which ONNX Runtime's thread-management guide gives as the
// default for its CPU provider: one intra-op thread per physical core.
// interOpNumThreads is 1 (sequential execution, ORT's default mode).
//
// Routes (Open Inference Protocol v2, as KServe and Triton speak it, plus one
// for a picture):
//
//   GET  /v2/health/live, /v2/health/ready, /v2/models/NAME/ready   200 {}
//   GET  /v2/models/NAME      {"name","versions","platform","inputs":[{"name",
//                             "datatype","shape"}],"outputs":[...]}, a
//                             symbolic dimension given as -1
//   POST /v2/models/NAME/infer
//        {"inputs":[{"name":"input","shape":[N,1,32,32],"datatype":"FP32",
//          "data":[...]}]}  (data flat, or nested as the shape)
//     -> {"model_name":NAME,"outputs":[{"name":"output","datatype":"FP32",
//          "shape":[N,10],"data":[...]}]}   ("id" echoed when given)
//   POST /v1/classify?model=NAME&top=K   body: one PNG file
//     -> {"model":NAME,"results":[{"class":7,"label":"7","probability":0.98,
//          "top":[{"class","label","probability"}...],"probabilities":[...]}]}
//
// The PNG is decoded here with zlib: 8-bit grey, grey+alpha, RGB or RGBA,
// not interlaced (anything else is 415). Colour becomes grey as PIL's
// convert("L") does (ITU-R 601-2 luma, 16-bit fixed point); translucent
// pixels are first composited over white. Pixels are value/255 (ToTensor);
// a 28x28 picture is zero-padded to the model's 32x32 (Pad(2), as the seed's
// MNIST), a picture of the model's own size is used as it is, any other size
// is 422. The model's output is taken as logits: the probabilities are their
// softmax (float64), top K by probability (K defaults to 5).
//
// Errors are {"error": "..."} with 400 (bad request), 404 (no such route or
// model), 405, 413 (body over 16 MiB), 415 (not a PNG it decodes), 422 (a PNG
// of the wrong size) or 500. On start it prints one line to stdout,
// `ort_serve.js: pid PID ready on http://HOST:PORT model NAME (FILE)`; SIGTERM
// or SIGINT closes the listener, lets requests in flight finish and exits 0.
'use strict';

const fs = require('fs');
const http = require('http');
const path = require('path');
const zlib = require('zlib');
const ort = require('onnxruntime-node');

const MAX_BODY = 16 << 20;
const MAX_PIXELS = 1 << 24;

class HTTPError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function parseArgs(argv) {
  const opts = { port: 8080, host: '127.0.0.1', threads: 0 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const m = /^--([a-z]+)(?:=(.*))?$/.exec(a);
    if (!m) throw new Error(`unexpected argument ${a}`);
    const v = m[2] !== undefined ? m[2] : argv[++i];
    if (v === undefined) throw new Error(`--${m[1]} needs a value`);
    switch (m[1]) {
      case 'model': opts.model = v; break;
      case 'name': opts.name = v; break;
      case 'host': opts.host = v; break;
      case 'labels': opts.labels = v; break;
      case 'port': opts.port = Number(v); break;
      case 'threads': opts.threads = Number(v); break;
      default: throw new Error(`unknown flag --${m[1]}`);
    }
  }
  if (!opts.model) throw new Error('--model FILE.onnx is required');
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) throw new Error('--port must be 0..65535');
  if (!Number.isInteger(opts.threads) || opts.threads < 0) throw new Error('--threads must be a whole number >= 0');
  if (!opts.name) opts.name = path.basename(opts.model).replace(/\.[^.]*$/, '');
  return opts;
}

// ---- PNG ----

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const CHANNELS = { 0: 1, 2: 3, 4: 2, 6: 4 };

// decodePNG returns {width, height, grey: Uint8Array} for an 8-bit grey,
// grey+alpha, RGB or RGBA PNG without interlacing; anything else throws 415.
function decodePNG(buf) {
  if (buf.length < 8 || !buf.subarray(0, 8).equals(PNG_SIGNATURE)) throw new HTTPError(415, 'body is not a PNG file');
  let off = 8;
  let ihdr = null;
  const idat = [];
  let ended = false;
  while (off + 12 <= buf.length) {
    const len = buf.readUInt32BE(off);
    const type = buf.toString('latin1', off + 4, off + 8);
    if (off + 12 + len > buf.length) throw new HTTPError(415, `PNG chunk ${type} runs past the end of the file`);
    const data = buf.subarray(off + 8, off + 8 + len);
    if (typeof zlib.crc32 === 'function' && zlib.crc32(buf.subarray(off + 4, off + 8 + len)) !== buf.readUInt32BE(off + 8 + len)) {
      throw new HTTPError(415, `PNG chunk ${type} fails its CRC`);
    }
    off += 12 + len;
    if (type === 'IHDR') {
      if (len !== 13) throw new HTTPError(415, 'PNG IHDR is not 13 bytes');
      ihdr = {
        width: data.readUInt32BE(0), height: data.readUInt32BE(4), depth: data[8],
        colour: data[9], compression: data[10], filter: data[11], interlace: data[12],
      };
    } else if (type === 'IDAT') {
      idat.push(data);
    } else if (type === 'IEND') {
      ended = true;
      break;
    }
  }
  if (!ihdr) throw new HTTPError(415, 'PNG has no IHDR');
  if (!ended || idat.length === 0) throw new HTTPError(415, 'PNG is truncated (no IDAT or IEND)');
  const { width, height, depth, colour, interlace } = ihdr;
  const ch = CHANNELS[colour];
  if (depth !== 8 || ch === undefined) {
    throw new HTTPError(415, `PNG of colour type ${colour}, bit depth ${depth}: only 8-bit grey, grey+alpha, RGB and RGBA are decoded`);
  }
  if (interlace !== 0) throw new HTTPError(415, 'interlaced PNG is not decoded');
  if (ihdr.compression !== 0 || ihdr.filter !== 0) throw new HTTPError(415, 'PNG with an unknown compression or filter method');
  if (width === 0 || height === 0 || width * height > MAX_PIXELS) throw new HTTPError(415, `PNG of ${width}x${height} pixels`);
  const stride = width * ch;
  const want = (stride + 1) * height;
  let raw;
  try {
    raw = zlib.inflateSync(idat.length === 1 ? idat[0] : Buffer.concat(idat), { maxOutputLength: want });
  } catch (err) {
    throw new HTTPError(415, `PNG image data: ${err.message}`);
  }
  if (raw.length < want) throw new HTTPError(415, 'PNG image data is short');
  const px = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const ft = raw[y * (stride + 1)];
    const src = y * (stride + 1) + 1;
    const dst = y * stride;
    const prev = dst - stride;
    for (let x = 0; x < stride; x++) {
      const r = raw[src + x];
      const a = x >= ch ? px[dst + x - ch] : 0;
      const b = y > 0 ? px[prev + x] : 0;
      const c = x >= ch && y > 0 ? px[prev + x - ch] : 0;
      let v;
      switch (ft) {
        case 0: v = r; break;
        case 1: v = r + a; break;
        case 2: v = r + b; break;
        case 3: v = r + ((a + b) >> 1); break;
        case 4: {
          const p = a + b - c;
          const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
          v = r + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
          break;
        }
        default: throw new HTTPError(415, `PNG row ${y} has unknown filter type ${ft}`);
      }
      px[dst + x] = v & 0xff;
    }
  }
  if (ch === 1) return { width, height, grey: px };
  const grey = new Uint8Array(width * height);
  for (let i = 0; i < width * height; i++) {
    let l;
    if (ch <= 2) {
      l = px[i * ch];
    } else {
      const p = i * ch;
      l = (px[p] * 19595 + px[p + 1] * 38470 + px[p + 2] * 7471 + 0x8000) >> 16;
    }
    if (ch === 2 || ch === 4) {
      const al = px[i * ch + ch - 1];
      l = Math.round((l * al + 255 * (255 - al)) / 255);
    }
    grey[i] = l;
  }
  return { width, height, grey };
}

// ---- the model ----

function shapeOf(meta) {
  return meta.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1));
}

function datatypeOf(meta) {
  const t = { float32: 'FP32', float64: 'FP64', int64: 'INT64', int32: 'INT32', uint8: 'UINT8', int8: 'INT8', bool: 'BOOL', float16: 'FP16' }[meta.type];
  return t || String(meta.type).toUpperCase();
}

function softmax(logits) {
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  let sum = 0;
  const p = new Array(logits.length);
  for (let i = 0; i < logits.length; i++) {
    p[i] = Math.exp(logits[i] - max);
    sum += p[i];
  }
  for (let i = 0; i < p.length; i++) p[i] /= sum;
  return p;
}

function flatten(data, out) {
  for (const v of data) {
    if (Array.isArray(v)) flatten(v, out);
    else out.push(v);
  }
  return out;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const sessionOptions = { executionProviders: ['cpu'], interOpNumThreads: 1 };
  if (opts.threads > 0) sessionOptions.intraOpNumThreads = opts.threads;
  const session = await ort.InferenceSession.create(opts.model, sessionOptions);
  const inMeta = session.inputMetadata[0];
  const outMeta = session.outputMetadata[0];
  const inName = session.inputNames[0];
  const outName = session.outputNames[0];
  const inShape = shapeOf(inMeta);
  if (inMeta.type !== 'float32' || inShape.length < 2 || inShape.slice(1).some((d) => d < 0)) {
    throw new Error(`input ${inName}: want float32 [N,...] with fixed dimensions after the batch, have ${inMeta.type} [${inShape}]`);
  }
  const perItem = inShape.slice(1).reduce((a, b) => a * b, 1);
  let labels = null;
  if (opts.labels) labels = fs.readFileSync(opts.labels, 'utf8').split('\n').map((s) => s.trim()).filter((s) => s !== '');
  const metadata = JSON.stringify({
    name: opts.name,
    versions: [],
    platform: 'onnxruntime_onnx',
    inputs: session.inputNames.map((n, i) => ({ name: n, datatype: datatypeOf(session.inputMetadata[i]), shape: shapeOf(session.inputMetadata[i]) })),
    outputs: session.outputNames.map((n, i) => ({ name: n, datatype: datatypeOf(session.outputMetadata[i]), shape: shapeOf(session.outputMetadata[i]) })),
  });
  void outMeta;

  function checkModel(name) {
    if (name !== opts.name) throw new HTTPError(404, `no model named ${JSON.stringify(name)}`);
  }

  async function inferV2(name, body) {
    checkModel(name);
    let req;
    try {
      req = JSON.parse(body.toString('utf8'));
    } catch (err) {
      throw new HTTPError(400, `request body is not JSON: ${err.message}`);
    }
    if (!req || !Array.isArray(req.inputs) || req.inputs.length !== 1) throw new HTTPError(400, `want "inputs" with exactly one tensor, ${inName}`);
    const t = req.inputs[0];
    if (t.name !== inName) throw new HTTPError(400, `input ${JSON.stringify(t.name)}: the model's input is ${JSON.stringify(inName)}`);
    if (t.datatype !== 'FP32') throw new HTTPError(400, `input ${inName}: datatype ${JSON.stringify(t.datatype)}, want FP32`);
    const shape = t.shape;
    if (!Array.isArray(shape) || shape.length !== inShape.length || !shape.every((d) => Number.isInteger(d) && d >= 0) ||
        shape.some((d, i) => i > 0 && d !== inShape[i]) || (inShape[0] >= 0 && shape[0] !== inShape[0]) || shape[0] < 1) {
      throw new HTTPError(400, `input ${inName}: shape ${JSON.stringify(shape)}, want [N,${inShape.slice(1)}]`);
    }
    let data = t.data;
    if (!Array.isArray(data)) throw new HTTPError(400, `input ${inName}: "data" is not an array`);
    if (data.length > 0 && Array.isArray(data[0])) data = flatten(data, []);
    if (data.length !== shape[0] * perItem) throw new HTTPError(400, `input ${inName}: ${data.length} values for shape ${JSON.stringify(shape)}`);
    const x = new Float32Array(data.length);
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (typeof v !== 'number') throw new HTTPError(400, `input ${inName}: value ${i} is not a number`);
      x[i] = v;
    }
    const out = await session.run({ [inName]: new ort.Tensor('float32', x, shape) });
    const outputs = session.outputNames.map((n) => {
      const o = out[n];
      return { name: n, datatype: datatypeOf({ type: o.type }), shape: o.dims, data: Array.from(o.data, Number) };
    });
    const res = { model_name: opts.name, outputs };
    if (typeof req.id === 'string') res.id = req.id;
    return res;
  }

  async function classify(url, body) {
    const name = url.searchParams.has('model') ? url.searchParams.get('model') : opts.name;
    checkModel(name);
    let top = 5;
    if (url.searchParams.has('top')) {
      top = Number(url.searchParams.get('top'));
      if (!Number.isInteger(top) || top < 1) throw new HTTPError(400, 'top must be a whole number >= 1');
    }
    const img = decodePNG(body);
    const H = inShape[inShape.length - 2];
    const W = inShape[inShape.length - 1];
    if (perItem !== H * W) throw new HTTPError(422, `the model's input [${inShape}] is not one grey image`);
    let pad;
    if (img.width === W && img.height === H) pad = 0;
    else if (img.width === 28 && img.height === 28 && H >= 28 && W >= 28 && (H - 28) % 2 === 0 && (W - 28) % 2 === 0) pad = (H - 28) / 2;
    else throw new HTTPError(422, `image of ${img.width}x${img.height} pixels: the model takes ${W}x${H} (or 28x28, padded)`);
    const padX = (W - img.width) / 2;
    const x = new Float32Array(H * W);
    for (let y = 0; y < img.height; y++) {
      for (let i = 0; i < img.width; i++) x[(y + pad) * W + i + padX] = img.grey[y * img.width + i] / 255;
    }
    const dims = [1, ...inShape.slice(1)];
    const out = await session.run({ [inName]: new ort.Tensor('float32', x, dims) });
    const logits = Array.from(out[outName].data, Number);
    const p = softmax(logits);
    const label = (k) => (labels && k < labels.length ? labels[k] : String(k));
    const order = p.map((_, i) => i).sort((a, b) => p[b] - p[a] || a - b);
    const best = order[0];
    return {
      model: opts.name,
      results: [{
        class: best,
        label: label(best),
        probability: p[best],
        top: order.slice(0, Math.min(top, p.length)).map((k) => ({ class: k, label: label(k), probability: p[k] })),
        probabilities: p,
      }],
    };
  }

  function readBody(req) {
    return new Promise((resolve, reject) => {
      const chunks = [];
      let n = 0;
      req.on('data', (c) => {
        n += c.length;
        if (n > MAX_BODY) {
          reject(new HTTPError(413, `request body over ${MAX_BODY} bytes`));
          req.destroy();
          return;
        }
        chunks.push(c);
      });
      req.on('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
      req.on('error', reject);
    });
  }

  function send(res, status, body) {
    const s = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(s) });
    res.end(s);
  }

  async function handle(req, res) {
    const url = new URL(req.url, 'http://localhost');
    const p = url.pathname;
    let m;
    if (p === '/v2/health/live' || p === '/v2/health/ready') {
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new HTTPError(405, 'use GET');
      return send(res, 200, '{}');
    }
    if ((m = /^\/v2\/models\/([^/]+)\/ready$/.exec(p))) {
      checkModel(decodeURIComponent(m[1]));
      return send(res, 200, '{}');
    }
    if ((m = /^\/v2\/models\/([^/]+)(?:\/versions\/[^/]+)?$/.exec(p))) {
      if (req.method !== 'GET') throw new HTTPError(405, 'use GET');
      checkModel(decodeURIComponent(m[1]));
      return send(res, 200, metadata);
    }
    if ((m = /^\/v2\/models\/([^/]+)(?:\/versions\/[^/]+)?\/infer$/.exec(p))) {
      if (req.method !== 'POST') throw new HTTPError(405, 'use POST');
      const body = await readBody(req);
      return send(res, 200, await inferV2(decodeURIComponent(m[1]), body));
    }
    if (p === '/v1/classify') {
      if (req.method !== 'POST') throw new HTTPError(405, 'use POST');
      const body = await readBody(req);
      return send(res, 200, await classify(url, body));
    }
    throw new HTTPError(404, `no route ${req.method} ${p}`);
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err) => {
      const status = err instanceof HTTPError ? err.status : 500;
      if (!res.headersSent) send(res, status, { error: err.message });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 65000;
  server.listen(opts.port, opts.host, () => {
    const a = server.address();
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    console.log(`ort_serve.js: pid ${process.pid} ready on http://${host}:${a.port} model ${opts.name} (${opts.model})`);
  });
  const stop = () => {
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    setTimeout(() => process.exit(0), 10000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

module.exports = { decodePNG };

if (require.main === module) {
  main().catch((err) => {
    console.error(`ort_serve.js: ${err.message}`);
    process.exit(1);
  });
}
