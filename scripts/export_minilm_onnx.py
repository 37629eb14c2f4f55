#!/usr/bin/env python3
"""Export sentence-transformers/all-MiniLM-L6-v2 (a 6-layer BERT encoder) to ONNX without torch.

The weights are read from ``model.safetensors`` with ``safetensors.numpy`` and the encoder graph
(embeddings + N transformer layers, output ``last_hidden_state``) is assembled with the ``onnx``
helper API. Only ``numpy``, ``onnx`` and ``safetensors`` are needed. Pooling (mean over the
attention mask) and L2 normalisation are left to the caller, as with a Hugging Face export.

Graph inputs (all int64, shape [batch, sequence]): ``input_ids``, ``attention_mask``,
``token_type_ids``. Output: ``last_hidden_state`` float32 [batch, sequence, hidden].

The output is deterministic: the same safetensors file always yields a byte-identical model.

Usage: export_minilm_onnx.py MODEL_DIR OUTPUT.onnx
  MODEL_DIR holds config.json and model.safetensors.
"""

import json
import math
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file

OPSET = 17


def build(model_dir: str) -> onnx.ModelProto:
    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    if cfg.get("model_type") != "bert" or cfg.get("hidden_act") != "gelu":
        raise SystemExit(f"unsupported config: model_type={cfg.get('model_type')} act={cfg.get('hidden_act')}")
    if cfg.get("position_embedding_type", "absolute") != "absolute":
        raise SystemExit("only absolute position embeddings are supported")
    hidden = int(cfg["hidden_size"])
    heads = int(cfg["num_attention_heads"])
    layers = int(cfg["num_hidden_layers"])
    eps = float(cfg.get("layer_norm_eps", 1e-12))
    head_dim = hidden // heads
    assert head_dim * heads == hidden

    w = load_file(os.path.join(model_dir, "model.safetensors"))
    # Some checkpoints prefix the names with "bert.".
    if "embeddings.word_embeddings.weight" not in w:
        w = {k[len("bert."):]: v for k, v in w.items() if k.startswith("bert.")}

    inits = []
    nodes = []

    def init(name: str, arr: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def weight(key: str, transpose: bool = False) -> str:
        arr = w[key].astype(np.float32)
        return init(key + (".T" if transpose else ""), arr.T if transpose else arr)

    def node(op: str, inputs, name: str, **attrs) -> str:
        nodes.append(helper.make_node(op, list(inputs), [name], name=name + "/" + op, **attrs))
        return name

    def const_i64(name: str, values) -> str:
        return init(name, np.array(values, dtype=np.int64))

    def const_f32(name: str, value: float) -> str:
        return init(name, np.array(value, dtype=np.float32))

    def linear(x: str, prefix: str, out: str) -> str:
        mm = node("MatMul", [x, weight(prefix + ".weight", transpose=True)], out + "_mm")
        return node("Add", [mm, weight(prefix + ".bias")], out)

    def layer_norm(x: str, prefix: str, out: str) -> str:
        return node(
            "LayerNormalization",
            [x, weight(prefix + ".weight"), weight(prefix + ".bias")],
            out,
            axis=-1,
            epsilon=eps,
        )

    # ---- embeddings -------------------------------------------------------------------------
    word = node("Gather", [weight("embeddings.word_embeddings.weight"), "input_ids"], "emb_word", axis=0)
    ttype = node("Gather", [weight("embeddings.token_type_embeddings.weight"), "token_type_ids"], "emb_type", axis=0)
    # position embeddings: the first `sequence` rows of the table (Slice, 1-D starts/ends)
    seq_len = node("Shape", ["input_ids"], "seq_len", start=1, end=2)
    pos = node(
        "Slice",
        [weight("embeddings.position_embeddings.weight"), const_i64("c_zero_1d", [0]), seq_len, const_i64("c_axis0_1d", [0])],
        "emb_pos",
    )
    s1 = node("Add", [word, ttype], "emb_sum1")
    s2 = node("Add", [s1, pos], "emb_sum2")
    x = layer_norm(s2, "embeddings.LayerNorm", "emb_out")

    # ---- attention mask bias [B, 1, 1, S]: 0 for tokens, float32 min for padding (as in HF) ----
    maskf = node("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    inv = node("Sub", [const_f32("c_one_f", 1.0), maskf], "mask_inv")
    bias2 = node("Mul", [inv, const_f32("c_neg_big", float(np.finfo(np.float32).min))], "mask_bias2")
    mask_bias = node("Unsqueeze", [bias2, const_i64("c_axes_12", [1, 2])], "mask_bias")

    split_shape = const_i64("c_split_shape", [0, 0, heads, head_dim])
    merge_shape = const_i64("c_merge_shape", [0, 0, hidden])
    scale = const_f32("c_scale", 1.0 / math.sqrt(head_dim))
    sqrt2 = const_f32("c_sqrt2", math.sqrt(2.0))
    one = const_f32("c_one_gelu", 1.0)
    half = const_f32("c_half", 0.5)

    for i in range(layers):
        p = f"encoder.layer.{i}"
        t = f"l{i}"
        q = linear(x, p + ".attention.self.query", t + "_q")
        k = linear(x, p + ".attention.self.key", t + "_k")
        v = linear(x, p + ".attention.self.value", t + "_v")
        q = node("Transpose", [node("Reshape", [q, split_shape], t + "_q4")], t + "_qh", perm=[0, 2, 1, 3])
        k = node("Transpose", [node("Reshape", [k, split_shape], t + "_k4")], t + "_kh", perm=[0, 2, 3, 1])
        v = node("Transpose", [node("Reshape", [v, split_shape], t + "_v4")], t + "_vh", perm=[0, 2, 1, 3])
        scores = node("MatMul", [q, k], t + "_scores")
        scores = node("Mul", [scores, scale], t + "_scaled")
        scores = node("Add", [scores, mask_bias], t + "_masked")
        probs = node("Softmax", [scores], t + "_probs", axis=-1)
        ctx = node("MatMul", [probs, v], t + "_ctx")
        ctx = node("Transpose", [ctx], t + "_ctx_t", perm=[0, 2, 1, 3])
        ctx = node("Reshape", [ctx, merge_shape], t + "_ctx_m")
        attn = linear(ctx, p + ".attention.output.dense", t + "_attn_out")
        x = layer_norm(node("Add", [attn, x], t + "_attn_res"), p + ".attention.output.LayerNorm", t + "_attn_ln")
        # feed-forward with exact (erf) GELU: (h * (1 + erf(h / sqrt(2)))) * 0.5, laid out as
        # PyTorch exports it so that ONNX Runtime's GeluFusion recognises it.
        h = linear(x, p + ".intermediate.dense", t + "_ff1")
        e = node("Erf", [node("Div", [h, sqrt2], t + "_ff_div")], t + "_ff_erf")
        e = node("Add", [e, one], t + "_ff_erf1")
        g = node("Mul", [node("Mul", [h, e], t + "_ff_mul"), half], t + "_ff_gelu")
        o = linear(g, p + ".output.dense", t + "_ff2")
        out_name = "last_hidden_state" if i == layers - 1 else t + "_out"
        x = layer_norm(node("Add", [o, x], t + "_ff_res"), p + ".output.LayerNorm", out_name)

    ids_type = lambda n: helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"])  # noqa: E731
    graph = helper.make_graph(
        nodes,
        "all-MiniLM-L6-v2",
        [ids_type("input_ids"), ids_type("attention_mask"), ids_type("token_type_ids")],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", hidden])],
        inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="slo-scout export_minilm_onnx.py",
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main() -> None:
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    model_dir, out = sys.argv[1], sys.argv[2]
    model = build(model_dir)
    tmp = out + ".tmp"
    onnx.save_model(model, tmp)
    os.replace(tmp, out)
    print(f"wrote {out} ({os.path.getsize(out) / 1e6:.1f} MB, opset {OPSET})", file=sys.stderr)


if __name__ == "__main__":
    main()
