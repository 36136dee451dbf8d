"""Checks an exported qwen_tuned.py without Trainium, torch or the Neuron packages.

It imports the module with stand-ins for torch, NKI, NxD (Inference) and the contest's baseline
qwen.py, then checks that every class, method and kernel the module refers to exists, that every
kernel is called with the argument shapes its program declares (SIGNATURES), that a decoder layer's
forward calls the kernels in the model's order for a prompt (the bucket) and for one token, and
optionally (--tables FILE) that the prefill block tables the module builds in torch equal the
tables nkitune's interpreter checked. What only a Trainium host can verify is listed in the README.

Usage: python3 check_contest_module.py EXPORT_DIR [--tables FILE]
"""
import importlib
import json
import sys
import types

import numpy as np

TP = 4
CALLS = []
JITTED = {}


class FakeTensor:
    """A shape, with numpy data for the small tensors whose values matter (routing, block tables)."""

    def __init__(self, shape, data=None):
        self.shape = tuple(int(size) for size in shape)
        self.data = data

    @staticmethod
    def of(array):
        array = np.asarray(array)
        return FakeTensor(array.shape, array)

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        total = int(np.prod(self.shape))
        known = int(np.prod([size for size in shape if size != -1])) or 1
        shape = tuple(total // known if size == -1 else size for size in shape)
        if int(np.prod(shape)) != total:
            raise AssertionError(f"cannot reshape {self.shape} to {shape}")
        return FakeTensor(shape, None if self.data is None else self.data.reshape(shape))

    view = reshape

    def t(self):
        assert len(self.shape) == 2, f"t() of a {len(self.shape)}-d tensor"
        return FakeTensor(self.shape[::-1], None if self.data is None else self.data.T)

    def contiguous(self):
        return self if self.data is None else FakeTensor.of(np.ascontiguousarray(self.data))

    def to(self, dtype):
        if self.data is None:
            return self
        return FakeTensor.of(self.data.astype(dtype))

    def _binary(self, other, op):
        if isinstance(other, FakeTensor):
            if self.data is None or other.data is None:
                assert self.shape == other.shape, f"{self.shape} and {other.shape} differ"
                return FakeTensor(self.shape)
            return FakeTensor.of(op(self.data, other.data))
        return FakeTensor.of(op(self.data, other)) if self.data is not None else FakeTensor(self.shape)

    def __add__(self, other):
        return self._binary(other, np.add)

    __radd__ = __add__

    def __sub__(self, other):
        return self._binary(other, np.subtract)

    def __mul__(self, other):
        return self._binary(other, np.multiply)

    def __floordiv__(self, other):
        return self._binary(other, np.floor_divide)

    def __mod__(self, other):
        return self._binary(other, np.mod)

    def __ge__(self, other):
        return self._binary(other, np.greater_equal)

    def __lt__(self, other):
        return self._binary(other, np.less)

    def _index(self, index):
        return index.data if isinstance(index, FakeTensor) else index

    def __getitem__(self, index):
        return FakeTensor.of(self.data[self._index(index)])

    def __setitem__(self, index, value):
        self.data[self._index(index)] = value.data if isinstance(value, FakeTensor) else value


def module(name, **attributes):
    created = types.ModuleType(name)
    created.__dict__.update(attributes)
    sys.modules[name] = created
    return created


class Module:
    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)


def data_or_shape(shape, dtype):
    # Small tensors carry values; weights only a shape.
    return FakeTensor(shape, np.zeros(shape, dtype=dtype) if int(np.prod(shape)) <= 1 << 20 else None)


def install_torch():
    def tensor_split(tensor, indices, dim):
        edges = [0, *indices, tensor.shape[dim]]
        parts = []
        for start, end in zip(edges, edges[1:]):
            shape = list(tensor.shape)
            shape[dim] = end - start
            parts.append(FakeTensor(shape))
        return tuple(parts)

    torch = module(
        "torch",
        int32=np.int32, int64=np.int64, float32=np.float32, bfloat16=np.float32,
        ones=lambda *shape, **_: FakeTensor(shape, np.ones(shape)),
        empty=lambda *shape, **_: FakeTensor(shape),
        zeros=lambda *shape, dtype=np.float32, **_: FakeTensor.of(np.zeros(shape, dtype=dtype)),
        arange=lambda n, **_: FakeTensor.of(np.arange(n)),
        argsort=lambda x, stable=False, **_: FakeTensor.of(np.argsort(x.data, kind="stable")),
        bincount=lambda x, minlength=0: FakeTensor.of(np.bincount(x.data, minlength=minlength)),
        cumsum=lambda x, dim: FakeTensor.of(np.cumsum(x.data, axis=dim)),
        searchsorted=lambda s, v, right=False: FakeTensor.of(
            np.searchsorted(s.data, v.data, side="right" if right else "left")),
        tensor_split=tensor_split,
    )
    torch.nn = module("torch.nn", Module=Module, Parameter=lambda tensor: tensor, ModuleList=list)
    return torch


def install_nki():
    class Kernel:
        """A jitted kernel: called with its declared shapes, or launched on a grid (`kernel[2]`,
        the two cores of an LNC 2 logical core) first."""

        def __init__(self, name):
            self.__name__ = name

        def __getitem__(self, grid):
            if grid != 2:
                raise AssertionError(f"{self.__name__} launched on grid {grid}: a logical core has 2 cores")
            return self

        def __call__(self, *arguments):
            name = self.__name__
            CALLS.append(name)
            inputs, outputs = SIGNATURES[name]
            shapes = tuple(argument.shape for argument in arguments)
            if shapes != inputs:
                raise AssertionError(f"{name} called with {shapes}, declared {inputs}")
            results = tuple(
                data_or_shape(shape, np.int64 if len(outputs) == 2 and index == 1 and name.startswith("router")
                              else np.float32)
                for index, shape in enumerate(outputs))
            return results if len(results) > 1 else results[0]

    def jit(function):
        kernel = Kernel(function.__name__)
        JITTED[function.__name__] = kernel
        return kernel

    nki = module("nki", jit=jit)
    nki.isa = module("nki.isa")
    nki.language = module("nki.language")


def install_neuron():
    def reduce(x):
        CALLS.append("all-reduce")
        return x

    def gather(x):
        CALLS.append("all-gather")
        return FakeTensor((*x.shape[:-1], x.shape[-1] * TP))

    module("neuronx_distributed")
    module("neuronx_distributed.parallel_layers")
    module("neuronx_distributed.parallel_layers.mappings", reduce_from_tensor_model_parallel_region=reduce,
           gather_from_tensor_model_parallel_region=gather)
    module("neuronx_distributed.parallel_layers.utils",
           set_tensor_model_parallel_attributes=lambda tensor, is_parallel, dim, stride=1: None)

    class ColumnParallelLinear(Module):
        def __init__(self, inputs, outputs, gather_output=True, bias=False, **_):
            self.weight = FakeTensor((outputs // TP, inputs))
            self.gather_output = gather_output

    class ParallelEmbedding(Module):
        def __init__(self, vocabulary, hidden, padding, **_):
            self.weight = FakeTensor((vocabulary // TP, hidden))

    class GroupQueryAttention_QKV(Module):
        def __init__(self, config):
            self.num_attention_heads = config.num_attention_heads
            self.num_key_value_heads = config.num_key_value_heads
            self.head_dim = config.head_dim
            self.tp_degree = config.neuron_config.tp_degree
            width = (self.num_attention_heads + 2 * self.num_key_value_heads) * self.head_dim
            self.Wqkv = ColumnParallelLinear(config.hidden_size, width)

    class GroupQueryAttention_O(Module):
        def __init__(self, config):
            self.o_proj = Module()
            self.o_proj.weight = FakeTensor(
                (config.hidden_size, config.num_attention_heads * config.head_dim // TP))

    module("neuronx_distributed_inference")
    module("neuronx_distributed_inference.modules")
    module("neuronx_distributed_inference.modules.attention")
    module("neuronx_distributed_inference.modules.attention.gqa", GroupQueryAttention_QKV=GroupQueryAttention_QKV,
           GroupQueryAttention_O=GroupQueryAttention_O)

    class NeuronQwen3MoEAttention(Module):
        """NxD Inference's attention: projections, then the core (RoPE, KV cache, attention)."""

        def __init__(self, config):
            self.qkv_proj = GroupQueryAttention_QKV(config)
            self.o_proj = GroupQueryAttention_O(config)
            self.heads = config.num_attention_heads // TP
            self.head_dim = config.head_dim

        def forward(self, hidden_states, attention_mask=None, position_ids=None, past_key_value=None, **_):
            q, k, v, _ = self.qkv_proj(hidden_states, rmsnorm=None)
            assert q.shape[-1] == self.heads * self.head_dim, f"q has {q.shape}"
            CALLS.append("attention core")
            batch, length = hidden_states.shape[:2]
            out = self.o_proj(FakeTensor((batch, length, self.heads * self.head_dim)))
            return out, past_key_value, None, None

    class NeuronQwen3MoeDecoderLayer(Module):
        pass

    class NeuronQwen3MoeModel(Module):
        def __init__(self, config):
            self.on_device_sampling = False
            self.init_model(config)

    class NeuronQwen3MoeForCausalLM(Module):
        pass

    module("qwen", ColumnParallelLinear=ColumnParallelLinear, ParallelEmbedding=ParallelEmbedding,
           NeuronQwen3MoEAttention=NeuronQwen3MoEAttention, NeuronQwen3MoeDecoderLayer=NeuronQwen3MoeDecoderLayer,
           NeuronQwen3MoeModel=NeuronQwen3MoeModel, NeuronQwen3MoeForCausalLM=NeuronQwen3MoeForCausalLM)


def config():
    neuron = types.SimpleNamespace(tp_degree=TP, torch_dtype="bf16", fused_qkv=False)
    return types.SimpleNamespace(
        hidden_size=2048, num_attention_heads=32, num_key_value_heads=4, head_dim=128, moe_intermediate_size=768,
        num_hidden_layers=2, rms_norm_eps=1e-6, vocab_size=151936, pad_token_id=0, neuron_config=neuron)


def main(arguments):
    directory = arguments[0]
    sys.path.insert(0, directory)
    install_torch()
    install_nki()
    install_neuron()
    global SIGNATURES
    tuned = importlib.import_module("qwen_tuned")
    SIGNATURES = tuned.SIGNATURES
    baseline = sys.modules["qwen"]
    problems = []
    if not issubclass(tuned.NeuronQwen3MoeForCausalLM, baseline.NeuronQwen3MoeForCausalLM):
        problems.append("NeuronQwen3MoeForCausalLM does not extend the baseline's")
    if tuned.NeuronQwen3MoeForCausalLM._model_cls is not tuned.NeuronQwen3MoeModel:
        problems.append("NeuronQwen3MoeForCausalLM._model_cls is not the tuned model")
    for table in ("RMSNORM", "RMSNORM_RESIDUAL", "QKV", "O_PROJ", "ROUTER", "EXPERTS_DECODE", "EXPERTS_PREFILL",
                  "LM_HEAD"):
        for rows, entry in getattr(tuned, table).items():
            kernel = entry[0] if isinstance(entry, tuple) else entry
            if kernel not in JITTED.values():
                problems.append(f"{table}[{rows}] is not an @nki.jit kernel of the module")
    model = tuned.NeuronQwen3MoeModel(config())
    if len(model.layers) != 2:
        problems.append(f"the model has {len(model.layers)} layers, not 2")
    for rows in sorted(set(tuned.QKV)):
        CALLS.clear()
        layer = model.layers[0]
        out = layer(FakeTensor((1, rows, 2048)))[0]
        name = lambda table: (lambda entry: (entry[0] if isinstance(entry, tuple) else entry).__name__)(
            getattr(tuned, table)[rows])
        experts = name("EXPERTS_DECODE") if rows in tuned.EXPERTS_DECODE else name("EXPERTS_PREFILL")
        expected = [name("RMSNORM"), name("QKV"), "attention core", name("O_PROJ"), "all-reduce",
                    name("RMSNORM_RESIDUAL"), name("ROUTER"), experts, "all-reduce"]
        if CALLS != expected:
            problems.append(f"a decoder layer over {rows} rows calls {CALLS}, expected {expected}")
        if out.shape != (1, rows, 2048):
            problems.append(f"a decoder layer over {rows} rows returns {out.shape}")
    CALLS.clear()
    model.lm_head(model.norm(FakeTensor((1, 1, 2048))))
    last = [tuned.RMSNORM[1].__name__, tuned.LM_HEAD[1][0].__name__, "all-gather"]
    if CALLS != last:
        problems.append(f"final norm and lm_head call {CALLS}, expected {last}")
    if "--tables" in arguments:
        with open(arguments[arguments.index("--tables") + 1]) as handle:
            case = json.load(handle)
        experts = FakeTensor.of(np.array(case["experts"], dtype=np.int64))
        weights = FakeTensor.of(np.array(case["weights"], dtype=np.float32))
        tables = tuned._block_tables(experts, weights, case["size"], case["blocks"], case["cores"])
        keys = ("block_expert", "block_token", "block_weight", "block_active")
        if len(tables) != len(keys):
            problems.append(f"the module builds {len(tables)} block tables, nkitune's kernel takes {len(keys)}")
        for got, key in zip(tables, keys):
            want = np.array(case[key], dtype=np.float32).reshape(got.shape)
            if not np.allclose(got.data.astype(np.float32), want):
                problems.append(f"{key} differs from nkitune's: {got.data.ravel()[:12]} vs {want.ravel()[:12]}")
    if problems:
        print("\n".join(problems))
        return 1
    print(f"ok: {len(JITTED)} kernels; decoder layers over {sorted(tuned.QKV)} rows call the kernels in model order")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
