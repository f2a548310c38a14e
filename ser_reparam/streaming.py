"""Streaming inference of a one-block ConvTransformer: the whole-window model's logits from
three small graphs and a little application state, instead of one graph over the window.

The whole-window model's subsampled step j depends only on feature frames 4·j … 4·j + 6
(two 3×3 stride-2 convolutions; layers.subsampling_length), and attention is the only place
where steps meet. So, from the SAME trained weights:

  A  every STEP_FRAMES feature frames: the STEP_CONTEXT frames ending there → x_j (the step's
     subsampled vector) and its attention key k_j and value v_j;
  B  at the end of the window, for a chunk of Q query steps: attention of their queries
     (computed from x) over all keys and values, residual, LayerNorm, FFN, residual,
     LayerNorm: the chunk's encoded steps;
  C  the window's encoded steps → the classifier's pooling → cls1 → cls2 → logits.

The application holds X, K, V (steps × dim each) between A and B, and the encoded steps
between B and C. Every value is the one the whole-window graph computes, in another order:
float logits agree to rounding. In int8 too, when the pieces are quantized as the
whole-window graph (quantize.quantize_pieces): each piece's ops are the whole-window ops
restricted to some rows, with the same scales. A deeper
model does not stream this way (block 2 needs every step's block-1 output, which depends on
every key), nor do the Conformer (positions added after subsampling, a k=31 depthwise
convolution over time between attention and pooling) and the SpeechFormer (no subsampling;
see docs/streaming.md): they keep the whole-window export (models.lean). Converting and quantizing the
pieces: tflite.convert.convert_piece, quantize.quantize_pieces / write_pieces (stage 05).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf
import tf_keras as keras

from ser_reparam.errors import NotStreamable
from ser_reparam.models.layers import subsampling_length
from ser_reparam.models.lean import has_subsampling
from ser_reparam.profile import _op_macs
from ser_reparam.tflite.interpreters import TFLMModel

STEP_FRAMES, STEP_CONTEXT = 4, 7  # feature frames per subsampled step, frames one step reads
MAX_CHUNK = 4  # query steps per B invocation: B's scores are chunk × steps per head


def steps_for(frames: int) -> int:
    """Subsampled steps of a `frames`-frame window (as the whole-window convolutions make)."""
    return ((subsampling_length(frames) - 3) // 2 + 1 - 3) // 2 + 1


def chunk_for(steps: int) -> int:
    """The largest divisor of `steps` not above MAX_CHUNK: equal chunks fill B's fixed-size input."""
    return max(q for q in range(1, MAX_CHUNK + 1) if steps % q == 0)


def check_streamable(model) -> None:
    names = {layer.name for layer in model.layers}
    why = None
    if not has_subsampling(model) or "positions" in names:
        why = "it has no convolutional subsampling without positions (ConvTransformer only)"
    elif "block1_mhsa" not in names or "block2_mhsa" in names:
        why = "only a one-block ConvTransformer streams exactly (block 2 needs every step's block-1 output)"
    elif model.get_layer("block1_mhsa").window is not None:
        why = "its attention is local"
    if why:
        raise NotStreamable(f"model '{model.name}' cannot stream exactly: {why}; "
                            "deploy the whole-window export instead")


@dataclasses.dataclass(frozen=True)
class StreamShape:
    """What stream_window needs to know of the pieces (StreamingPieces has the same attributes):
    the firmware checks build it from the exported pieces' tensors alone."""
    steps: int
    chunk: int
    heads: int


@dataclasses.dataclass
class StreamingPieces:
    """The three Keras graphs (sharing the trained model's layers) and their sizes."""
    step: keras.Model     # A: (STEP_CONTEXT, features) → x, k, v  (dim each)
    attend: keras.Model   # B: x chunk (Q, dim), each head's keys (head_dim, T), each head's values
                          # (T, head_dim) → encoded chunk (Q, dim)
    classify: keras.Model  # C: the window's encoded steps (T, dim) → logits
    steps: int
    chunk: int

    @property
    def heads(self) -> int:
        return heads_of_attend(len(self.attend.inputs))


def heads_of_attend(inputs: int) -> int:
    """Attention heads of a B with `inputs` graph inputs: the queries, then each head's keys,
    then each head's values (split_model; the firmware fills them in that order)."""
    return (inputs - 1) // 2


def split_model(model) -> StreamingPieces:
    """A, B and C of a trained (folded) one-block ConvTransformer; raises NotStreamable otherwise."""
    check_streamable(model)
    frames, features = (int(d) for d in model.inputs[0].shape[1:])
    steps = steps_for(frames)
    chunk = chunk_for(steps)
    mhsa = model.get_layer("block1_mhsa")
    dim, heads = mhsa.dim, mhsa.heads
    head_dim = dim // heads
    # the whole-window graph's QKV projection, the query scale folded in (layers.MultiHeadSelfAttention):
    # A and B compute all of it and slice, so that its int8 output gets the whole-window scale
    qkv_scale = tf.constant([head_dim ** -0.5] * dim + [1.0] * (2 * dim))

    frames_in = keras.Input((STEP_CONTEXT, features), name="frames")
    x = tf.reshape(frames_in, [-1, STEP_CONTEXT, features, 1])
    feature_pad = subsampling_length(features) - features
    if feature_pad:
        x = tf.pad(x, [[0, 0], [0, 0], [0, feature_pad], [0, 0]])
    x = model.get_layer("subsample_conv2")(model.get_layer("subsample_conv1")(x))  # 7 rows → 3 → 1
    x = model.get_layer("subsample_proj")(tf.reshape(x, [-1, int(x.shape[2]) * int(x.shape[3])]))
    # x reaches the projection through a reshape, as the whole-window graph's does through the
    # bands' concatenation: straight after proj's bias add, the converter moves that bias into the
    # next FULLY_CONNECTED's and feeds it x without bias — another arithmetic than the whole window's
    qkv = tf.reshape(mhsa.qkv(tf.reshape(x, [-1, 1, dim])) * qkv_scale, [-1, 3 * dim])
    step = keras.Model(frames_in, [x, qkv[:, dim:2 * dim], qkv[:, 2 * dim:]], name="stream_step")

    # every head's keys and values a graph input of their own, filled by the application: B
    # copies none of them (a split inside would hold a second copy of K and V in the arena).
    # Keys are stored transposed: the matmul needs no adjoint (with adj_y, the Python TFLM
    # interpreter crashed while bisecting this piece's arena). Batch 1 (the device's), rank 2
    # inside: the softmax sees (chunk, steps), whose dims[1] is the keys axis (the ESP-NN scratch
    # rule, firmware_export.esp_nn_rules).
    xq = keras.Input((chunk, dim), name="queries")
    k_heads = [keras.Input((head_dim, steps), name=f"keys_{h}") for h in range(heads)]
    v_heads = [keras.Input((steps, head_dim), name=f"values_{h}") for h in range(heads)]
    rows = tf.reshape(xq, [chunk, dim])
    q_heads = tf.split((mhsa.qkv(rows) * qkv_scale)[:, :dim], heads, axis=1)
    k_rows = [tf.reshape(k, [head_dim, steps]) for k in k_heads]
    v_rows = [tf.reshape(v, [steps, head_dim]) for v in v_heads]
    # one head at a time, as the whole-window graph (MultiHeadSelfAttention._head)
    context = tf.concat([tf.matmul(tf.nn.softmax(tf.matmul(q, k), axis=-1), v)
                         for q, k, v in zip(q_heads, k_rows, v_rows)], axis=1)
    y = model.get_layer("block1_mhsa_norm")(rows + mhsa.proj(context))
    y = model.get_layer("block1_ffn_norm")(y + model.get_layer("block1_ffn")(y))
    y = tf.reshape(y, [1, chunk, dim])
    attend = keras.Model([xq, *k_heads, *v_heads], y, name="stream_attend")

    # C pools the window's encoder outputs itself: the int8 mean is then TFLM's MEAN, as in the
    # whole-window graph, not a mean of chunk means rounded twice
    encoded = keras.Input((steps, dim), name="encoded")
    logits = model.get_layer("logits")(
        model.get_layer("cls2")(model.get_layer("cls1")(_pooled(model, encoded))))
    classify = keras.Model(encoded, logits, name="stream_classify")
    return StreamingPieces(step, attend, classify, steps, chunk)


def _pooled(model, encoded):
    """The classifier head's pooling (layers.classifier_head) applied to `encoded`: the mean over
    time, and with `pooling: mean_sq` the mean of the squares beside it."""
    pooled = model.get_layer("pool")(encoded)
    if "pool_stats" not in {layer.name for layer in model.layers}:
        return pooled
    squares = model.get_layer("pool_sq")(model.get_layer("pool_square")([encoded, encoded]))
    return model.get_layer("pool_stats")([pooled, squares])


class KerasPieces:
    """The pieces in float (Keras), each called on a batch of its inputs (B, built for batch 1 as
    the device runs it, one chunk at a time)."""

    def __init__(self, pieces: StreamingPieces):
        self.pieces = pieces
        specs = [tf.TensorSpec((1, *t.shape[1:]), tf.float32) for t in pieces.attend.inputs]
        self._attend = tf.function(lambda *inputs: pieces.attend(list(inputs), training=False),
                                   input_signature=specs)

    def step(self, windows):
        return [np.asarray(t) for t in self.pieces.step(windows, training=False)]

    def attend(self, queries, *heads):
        return np.concatenate([np.asarray(self._attend(*(np.asarray(t, np.float32)[None] for t in inputs)))
                               for inputs in zip(queries, *heads)])

    def classify(self, encoded):
        return np.asarray(self.pieces.classify(encoded, training=False))


def step_windows(features: np.ndarray, steps: int) -> np.ndarray:
    """The (steps, STEP_CONTEXT, features) frame windows A reads, one per subsampled step."""
    return np.stack([features[STEP_FRAMES * j:STEP_FRAMES * j + STEP_CONTEXT] for j in range(steps)])


def stream_window(runner, pieces: StreamingPieces | StreamShape, features: np.ndarray,
                  trace: dict | None = None) -> np.ndarray:
    """Logits of one window (frames, features) the way the device computes them: A per step
    (a step is computed as soon as its frames arrived), then B per query chunk, then C.
    `trace` collects each piece's inputs (calibration data)."""
    windows = step_windows(features, pieces.steps)
    X, K, V = runner.step(windows)
    chunks = X.reshape(-1, pieces.chunk, X.shape[-1])
    heads = pieces.heads
    # the application files step j's k and v head by head: head h's keys [:, j] = k_j[h·hd : (h+1)·hd]
    # (transposed, so that B's matmul needs no adjoint) and its values [j, :] = v_j[h·hd : (h+1)·hd]
    keys = [np.repeat(k.T[None], len(chunks), axis=0) for k in np.split(K, heads, axis=1)]
    values = [np.repeat(v[None], len(chunks), axis=0) for v in np.split(V, heads, axis=1)]
    encoded = runner.attend(chunks, *keys, *values).reshape(1, -1, X.shape[-1])
    if trace is not None:
        trace.setdefault("step", []).append(windows)
        trace.setdefault("attend", []).append((chunks, *keys, *values))
        trace.setdefault("classify", []).append(encoded)
    return runner.classify(encoded)[0]


PIECES = ("step", "attend", "classify")


def calibration_examples(trace: dict) -> dict[str, list[tuple]]:
    """Each piece's calibration inputs from a stream_window trace, all of them (a window has one
    A input per step and one B input per chunk): the values the whole-window model is
    calibrated on, so that shared tensors get the same ranges."""
    return {"step": [(w,) for batch in trace["step"] for w in batch],
            "attend": [tuple(part[i] for part in batch) for batch in trace["attend"]
                       for i in range(len(batch[0]))],
            "classify": [(p,) for batch in trace["classify"] for p in batch]}


class InterpreterPieces:
    """The int8 pieces on a TFLite interpreter (interpreters.TFLMModel: TFLite Micro's kernels, or
    LiteRTModel). Between pieces the application holds int8 values in one piece's output scale
    and requantizes them to the next one's input scale (a per-tensor multiply); here that is a
    dequantize and quantize through float."""

    def __init__(self, blobs: dict[str, bytes], runner=TFLMModel):
        self.models = {name: runner(blobs[name]) for name in PIECES}

    def _run(self, name: str, *inputs):
        outputs = [self.models[name].run_float(*example) for example in zip(*inputs)]
        return [np.stack(column) for column in zip(*outputs)]

    def step(self, windows):
        return self._run("step", windows)

    def attend(self, queries, *heads):
        return self._run("attend", queries, *heads)[0]

    def classify(self, encoded):
        return self._run("classify", encoded)[0]


def piece_macs(model: keras.Model) -> int:
    """MACs of one invocation of a piece (batch 1), counted as profile.count_flops counts them."""
    specs = [tf.TensorSpec((1, *t.shape[1:]), tf.float32) for t in model.inputs]
    forward = tf.function(lambda *xs: model(list(xs) if len(xs) > 1 else xs[0], training=False),
                          autograph=False)
    return int(sum(_op_macs(op) for op in forward.get_concrete_function(*specs).graph.get_operations()))


def model_ram_bytes(arenas: dict[str, int], state: int) -> int:
    """The streaming deployment's model RAM on the host: the pieces' arenas, each measured with
    its own Python interpreter (an upper bound of the one arena the firmware shares between them,
    which the export measures with the board's kernels), + the application state (state_bytes).
    The front end's RAM is not included (the same for both deployments' Python front end)."""
    return sum(arenas[name] for name in PIECES) + state


def state_bytes(steps: int, dim: int, features: int) -> int:
    """The application state between the pieces, as the firmware holds it: sizeof(SerStreamState)
    of ser_stream_app.cc — the frame ring (STEP_CONTEXT frames, int8), x / k / v and the encoded
    output of every step of the window (int8) and 8 int32 counters. The one count of it: stage
    05, stage 07, the export's budget and the benchmarks read it here."""
    rings = STEP_CONTEXT * features + 4 * steps * dim
    return (rings + 3) // 4 * 4 + 8 * 4


def pieces_state_bytes(pieces: StreamingPieces) -> int:
    """state_bytes of a split model."""
    features = int(pieces.step.inputs[0].shape[-1])
    return state_bytes(pieces.steps, int(pieces.step.outputs[0].shape[-1]), features)
