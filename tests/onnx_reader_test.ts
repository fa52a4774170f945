/**
 * The ONNX reader on hostile bytes: every truncation of a small model and
 * seeded random byte flips give an error or a model, never a crash or a
 * hang; the wire format's corner cases (negative int64, packed and unpacked
 * repeated fields, typed-field tensors); external data beside the model and
 * paths that try to leave its directory.
 */
import assert from "node:assert/strict";
import { InferenceSession, ModelError, Tensor } from "../mod.ts";
import { readModel } from "../src/onnx/model.ts";
import { materialize } from "../src/onnx/tensor_data.ts";
import { readFileLarge } from "../src/native/large_memory.ts";
import { WireReader } from "../src/onnx/wire.ts";
import { mlp, resnetCnn } from "../tools/model_zoo.ts";
import { GraphBuilder, Message, seededFloats, tensorMessage } from "../tools/onnx_writer.ts";

Deno.test("wire: varints of every width and sign, packed and unpacked repeated fields", () => {
  const values = [
    0,
    1,
    127,
    128,
    300,
    2 ** 31 - 1,
    2 ** 31,
    2 ** 32 + 5,
    2 ** 53 - 1,
    -1,
    -2,
    -(2 ** 31),
    -(2 ** 53 - 1),
  ];
  const m = new Message();
  for (const v of values) m.varint(1, v);
  m.packedVarints(2, values);
  const r = new WireReader(m.done(), "test");
  const unpacked: number[] = [], packed: number[] = [];
  while (!r.done) {
    const [field, wire] = r.tag();
    r.int64s(wire, "v", field === 1 ? unpacked : packed);
  }
  assert.deepEqual(unpacked, values);
  assert.deepEqual(packed, values);
  // 2^63 − 1 is not a safe integer: an error naming it, not a wrong value.
  const big = new Message().varint(1, 2n ** 63n - 1n).done();
  const rb = new WireReader(big, "test");
  rb.tag();
  assert.throws(() => rb.int64("dim"), /not a safe integer/);
  // An 11-byte varint.
  const long = new WireReader(
    new Uint8Array([8, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 1]),
    "test",
  );
  long.tag();
  assert.throws(() => long.varint(), /longer than 64 bits/);
});

Deno.test("reader: tensors in typed fields, int64 initializers and attributes read back", async () => {
  const g = new GraphBuilder(13);
  g.input("x", "float32", [2, 3]);
  g.initializer("w", {
    type: "float32",
    dims: [2, 3],
    data: [1, -2, 3, 0.5, 0, -1],
    typedFields: true,
  });
  g.initializer("shape", { type: "int64", dims: [2], data: [3, -1], typedFields: true });
  g.output(g.op("Reshape", [g.op("Mul", ["x", "w"]), "shape"], {}, "y"));
  const s = await InferenceSession.create(g.toBytes());
  const out = s.runSync({ x: new Tensor("float32", [1, 1, 1, 2, 2, 2], [2, 3]) });
  assert.deepEqual(out.y.dims, [3, 2]);
  assert.deepEqual(Array.from(out.y.data as Float32Array), [1, -2, 3, 1, 0, -2]);
  await s.release();
  const model = readModel(g.toBytes());
  assert.equal(model.opsets.get(""), 13);
  assert.equal(model.graph.inputs[0].dims?.join(), "2,3");
});

/**
 * Runs create (and a run when create succeeds) on mutated bytes: any Error is fine. With
 * `dir`, from a file there holding them (the path's create views its weights in the bytes read).
 */
async function survive(
  bytes: Uint8Array,
  feeds: Record<string, Tensor>,
  dir?: string,
): Promise<"error" | "ok"> {
  try {
    let model: Uint8Array | string = bytes;
    if (dir !== undefined) Deno.writeFileSync(model = `${dir}/mutated.onnx`, bytes);
    const s = await InferenceSession.create(model, { intraOpNumThreads: 1 });
    try {
      s.runSync(feeds);
    } catch (e) {
      assert.ok(e instanceof Error, `run threw a non-Error: ${e}`);
    } finally {
      await s.release();
    }
    return "ok";
  } catch (e) {
    assert.ok(e instanceof Error, `create threw a non-Error: ${e}`);
    return "error";
  }
}

/** A small model with an If (condition fed) and a Loop (bound 3): subgraphs to corrupt too. */
function controlFlowModel(): { name: string; bytes: Uint8Array; feeds: Record<string, Tensor> } {
  const g = new GraphBuilder(17);
  g.input("x", "float32", [2, 3]);
  g.input("flag", "bool", []);
  const branch = (op: string, tag: string) => {
    const b = new GraphBuilder(17);
    b.output(b.op(op, ["x"], {}, `${tag}_y`));
    return b;
  };
  g.node("If", ["flag"], ["chosen"], {
    then_branch: { graph: branch("Relu", "th") },
    else_branch: { graph: branch("Neg", "el") },
  });
  const body = new GraphBuilder(17);
  body.input("i", "int64", []);
  body.input("c", "bool", []);
  body.input("acc", "float32", [2, 3]);
  body.output(body.op("Identity", ["c"], {}, "c_out"), "bool");
  body.output(body.op("Add", ["acc", "x"], {}, "acc_out"));
  g.node("Loop", [g.ints("m", [3], []), "", "chosen"], ["looped"], { body: { graph: body } });
  g.output("looped");
  return {
    name: "control flow",
    bytes: g.toBytes(),
    feeds: {
      x: new Tensor("float32", seededFloats(6, 3), [2, 3]),
      flag: new Tensor("bool", Uint8Array.of(1), []),
    },
  };
}

Deno.test("reader: every truncation of a model with If and Loop subgraphs is an error, never a crash", async () => {
  const m = controlFlowModel();
  assert.equal(await survive(m.bytes, m.feeds), "ok");
  let errors = 0;
  for (let len = 0; len < m.bytes.length; len++) {
    if (await survive(m.bytes.subarray(0, len), m.feeds) === "error") errors++;
  }
  assert.ok(errors > m.bytes.length * 0.9, `${errors} errors of ${m.bytes.length} truncations`);
});

Deno.test("reader: every truncation of a small model is an error, never a crash", async () => {
  const m = mlp([6, 5, 3], 1);
  const feeds = { input: new Tensor("float32", seededFloats(6, 1), [1, 6]) };
  let errors = 0;
  for (let len = 0; len < m.bytes.length; len++) {
    const r = await survive(m.bytes.subarray(0, len), feeds);
    if (r === "error") errors++;
  }
  // A cut between top-level fields can leave a valid prefix; most cuts are errors.
  assert.ok(errors > m.bytes.length * 0.9, `${errors} errors of ${m.bytes.length} truncations`);
  await assert.rejects(InferenceSession.create(new Uint8Array(0)), ModelError);
});

type ZooModel = ReturnType<typeof mlp>;

/** Zoo models with their feeds as tensors. */
function withTensors(
  models: ZooModel[],
): { name: string; bytes: Uint8Array; feeds: Record<string, Tensor> }[] {
  return models.map((m) => {
    const feeds: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(m.feeds)) feeds[k] = new Tensor(v.type, v.data, v.dims);
    return { name: m.name, bytes: m.bytes, feeds };
  });
}

/** The byte-flip tests' small models (weights under 128 bytes, and over). */
const flipModels = () => [mlp([6, 5, 3], 1), resnetCnn({ size: 16, widths: [4], blocks: 1 })];

/** `original` with 1-4 bits flipped where `seed` says. */
function flipped(original: Uint8Array, seed: number): Uint8Array {
  let s = seed * 2654435761 >>> 0;
  const next = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>>= 0);
  };
  const bytes = original.slice();
  const flips = 1 + next() % 4;
  for (let i = 0; i < flips; i++) bytes[next() % bytes.length] ^= 1 << (next() % 8);
  return bytes;
}

Deno.test("reader: seeded random byte flips of a file created from its path never crash (seed printed on failure)", async () => {
  // Weights of 128 bytes and more: moved onto 4-byte boundaries in the bytes read, then viewed.
  const models = withTensors([...flipModels(), mlp([40, 24, 3], 2)]);
  const dir = Deno.makeTempDirSync();
  try {
    for (const { bytes: original, feeds, name } of models) {
      for (let seed = 1; seed <= 60; seed++) {
        try {
          await survive(flipped(original, seed), feeds, dir);
        } catch (e) {
          throw new Error(`${name} from a path, seed ${seed}: ${(e as Error).message}`);
        }
      }
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("reader: seeded random byte flips never crash (seed printed on failure)", async () => {
  const models = withTensors(flipModels());
  models.push(controlFlowModel());
  for (const { bytes: original, feeds, ...m } of models) {
    for (let seed = 1; seed <= 300; seed++) {
      try {
        await survive(flipped(original, seed), feeds);
      } catch (e) {
        throw new Error(`${m.name}, seed ${seed}: ${(e as Error).message}`);
      }
    }
  }
});

Deno.test("reader: hostile headers are refused before any allocation", async () => {
  // An initializer claiming 2^30 elements with 4 bytes of data.
  const t = tensorMessage("w", { type: "float32", dims: [1 << 16, 1 << 14], data: [1] });
  const g = new Message().message(5, t).string(2, "g");
  const model = new Message().varint(1, 8).message(7, g).message(
    8,
    new Message().string(1, "").varint(2, 17),
  );
  await assert.rejects(
    InferenceSession.create(model.done()),
    /raw_data has 4 bytes, expected 4294967296/,
  );
  // A length prefix running past the end.
  await assert.rejects(
    InferenceSession.create(new Uint8Array([0x3a, 0xff, 0xff, 0x03, 1, 2])),
    /runs past the end/,
  );
  // Wire type 3 (groups).
  await assert.rejects(InferenceSession.create(new Uint8Array([0x0b])), /unsupported wire type 3/);
  // Deeply nested subgraphs are bounded.
  let inner = new Message().string(2, "leaf");
  for (let i = 0; i < 40; i++) {
    const attr = new Message().string(1, "g").message(6, inner).varint(20, 5);
    inner = new Message().message(1, new Message().string(4, "If").message(5, attr)).string(
      2,
      `g${i}`,
    );
  }
  const deep = new Message().varint(1, 8).message(7, inner).message(
    8,
    new Message().string(1, "").varint(2, 17),
  );
  await assert.rejects(InferenceSession.create(deep.done()), /nested deeper than 32/);
  // An attribute of kind TENSOR (4) without its tensor (field 5): a flipped kind byte, as the
  // files fuzz campaign found one (it threw a TypeError reading the missing tensor).
  const constant = new Message().string(2, "y").string(4, "Constant").message(
    5,
    new Message().string(1, "value").varint(20, 4),
  );
  const graph = new Message().message(1, constant).string(2, "g").message(
    12,
    new Message().string(1, "y"),
  );
  const bare = new Message().varint(1, 8).message(7, graph).message(
    8,
    new Message().string(1, "").varint(2, 17),
  );
  await assert.rejects(
    InferenceSession.create(bare.done()),
    (e: Error) => e.name === "ModelError" && /'value' of kind TENSOR has no tensor/.test(e.message),
  );
});

Deno.test("reader: shapes computed too large (a corrupt constant) fail naming the node, without allocating", async () => {
  const ofShape = new GraphBuilder(13);
  ofShape.input("x", "float32", [2]);
  const c = ofShape.op("ConstantOfShape", [ofShape.ints("shape", [1 << 20, 1 << 20])]);
  ofShape.output(ofShape.op("Add", ["x", ofShape.op("ReduceSum", [c], { keepdims: 0 })], {}, "y"));
  await assert.rejects(
    InferenceSession.create(ofShape.toBytes()),
    (e: Error) =>
      e instanceof ModelError && /ConstantOfShape.*1099511627776 elements exceed/.test(e.message),
  );
  const range = new GraphBuilder(13);
  range.input("x", "float32", [2]);
  const r = range.op("Range", [
    range.ints("start", [0], []),
    range.ints("limit", [2 ** 40], []),
    range.ints("delta", [1], []),
  ]);
  range.output(range.op("Cast", [r], { to: 1 }, "y"));
  await assert.rejects(
    InferenceSession.create(range.toBytes()),
    (e: Error) => e instanceof ModelError && /Range.*elements exceed/.test(e.message),
  );
});

Deno.test("reader: external data beside the model; paths leaving its directory are refused", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const weights = Float32Array.from([1, 2, 3, 4, 5, 6]);
    const pad = new Uint8Array(16);
    Deno.writeFileSync(
      `${dir}/weights.bin`,
      new Uint8Array([...pad, ...new Uint8Array(weights.buffer)]),
    );
    const build = (location: string, offset = 16, length = 24) => {
      const ext = (k: string, v: string) => new Message().string(1, k).string(2, v);
      const t = new Message().packedVarints(1, [2, 3]).varint(2, 1).string(8, "w")
        .message(13, ext("location", location)).message(13, ext("offset", String(offset)))
        .message(13, ext("length", String(length))).varint(14, 1);
      const g = new GraphBuilder(17);
      g.input("x", "float32", [2, 3]);
      g.output(g.op("Add", ["x", "w"], {}, "y"));
      // Splice the external initializer into the graph message.
      const graph = g.graphMessage().message(5, t);
      return new Message().varint(1, 8).message(7, graph).message(
        8,
        new Message().string(1, "").varint(2, 17),
      ).done();
    };
    Deno.writeFileSync(`${dir}/ok.onnx`, build("weights.bin"));
    const s = await InferenceSession.create(`${dir}/ok.onnx`);
    const y = s.runSync({ x: new Tensor("float32", new Float32Array(6), [2, 3]) }).y;
    assert.deepEqual(Array.from(y.data as Float32Array), [1, 2, 3, 4, 5, 6]);
    await s.release();
    // Off a 4-byte boundary in its file: copied (a read-in-place model views only aligned data).
    Deno.writeFileSync(`${dir}/odd.bin`, new Uint8Array([0, 0, ...new Uint8Array(weights.buffer)]));
    Deno.writeFileSync(`${dir}/odd.onnx`, build("odd.bin", 2));
    const odd = await InferenceSession.create(`${dir}/odd.onnx`);
    const yOdd = odd.runSync({ x: new Tensor("float32", new Float32Array(6), [2, 3]) }).y;
    assert.deepEqual(Array.from(yOdd.data as Float32Array), [1, 2, 3, 4, 5, 6]);
    await odd.release();
    await assert.rejects(
      InferenceSession.create(build("weights.bin")),
      /create the session from a path/,
    );
    for (const bad of ["../weights.bin", "/etc/passwd", "sub/../../x"]) {
      Deno.writeFileSync(`${dir}/bad.onnx`, build(bad));
      await assert.rejects(
        InferenceSession.create(`${dir}/bad.onnx`),
        /leaves the model's directory/,
        bad,
      );
    }
    Deno.symlinkSync("/etc", `${dir}/escape`);
    Deno.writeFileSync(`${dir}/link.onnx`, build("escape/hostname"));
    await assert.rejects(
      InferenceSession.create(`${dir}/link.onnx`),
      /leaves the model's directory|cannot read/,
    );
    Deno.writeFileSync(`${dir}/past.onnx`, build("weights.bin", 32));
    await assert.rejects(InferenceSession.create(`${dir}/past.onnx`), /runs past the end/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("reader: float weights of a model read from a path are viewed where they lie, moved onto 4-byte boundaries; bytes given are left as they were", async () => {
  // Initializers whose names differ in length put their raw_data at every offset mod 4:
  // 25×8 floats (moved back over their field's header, then viewed) and rows of 8 (too short
  // to move 3 bytes: copied), added to x in turn.
  const g = new GraphBuilder(17);
  g.input("x", "float32", [25, 8]);
  let sum = "x";
  const weights: Float32Array[] = [];
  for (let i = 0; i < 16; i++) {
    const long = i % 2 === 0;
    const w = seededFloats(long ? 200 : 8, 40 + i);
    weights.push(w);
    // Each long name one letter longer than the last: the next raw_data one byte further.
    const name = long ? "w".repeat(i / 2 + 1) : `s${i}`;
    g.weight(name, long ? [25, 8] : [8], w);
    sum = g.op("Add", [sum, name]);
  }
  g.output(g.op("Identity", [sum], {}, "y"));
  const bytes = g.toBytes();
  const raws = readModel(bytes).graph.initializers.map((t) => t.raw!);
  const residues = (len: number) =>
    new Set(raws.filter((r) => r.length === len).map((r) => r.byteOffset & 3));
  assert.deepEqual([...residues(800)].sort(), [0, 1, 2, 3], "the long ones' offsets mod 4");
  assert.ok(residues(32).size >= 2, "the short ones' offsets mod 4");

  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeFileSync(`${dir}/m.onnx`, bytes);
    // Viewed: the long ones share the file's buffer, the short misaligned ones are copies;
    // each holds the floats written. A second read of the same tensors (a tensor
    // materialized twice) finds them moved already and views them again.
    const file = readFileLarge(`${dir}/m.onnx`);
    const model = readModel(file);
    const ext = { dir, files: new Map(), adopt: true };
    for (let pass = 0; pass < 2; pass++) {
      for (const [i, t] of model.graph.initializers.entries()) {
        const shift = t.raw!.byteOffset & 3;
        const got = materialize(t, ext).data as Float32Array;
        assert.deepEqual(got, weights[i], `initializer ${i}, pass ${pass}`);
        const viewed = got.buffer === file.buffer;
        assert.equal(viewed, shift === 0 || t.raw!.length >= 128, `initializer ${i}: viewed`);
      }
    }
    // Whole sessions: from the path (viewed) and from the bytes (copied) give the same bits,
    // and the bytes given stay as they were.
    const before = bytes.slice();
    const x = seededFloats(200, 7);
    const want = new Float32Array(200);
    for (let j = 0; j < 200; j++) {
      let v = x[j];
      for (const w of weights) v = Math.fround(v + w[w.length === 200 ? j : j % 8]);
      want[j] = v;
    }
    const fromPath = await InferenceSession.create(`${dir}/m.onnx`);
    const fromBytes = await InferenceSession.create(bytes);
    for (const s of [fromPath, fromBytes]) {
      const y = s.runSync({ x: new Tensor("float32", x, [25, 8]) }).y;
      assert.deepEqual(y.data, want);
      await s.release();
    }
    assert.deepEqual(bytes, before);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
