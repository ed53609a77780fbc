"""Fold eval-mode BatchNorm into the convolution before it, once for a whole grid.

In eval mode a BN after a conv is a per-channel affine map y = (z − μ)·s + β with
s = γ / sqrt(σ² + ε). When no direction moves γ, β, μ or σ² (Li et al.'s `biasbn` rule with
`dir_type="weights"`), that map is the same at every grid point and can be folded into the conv:

    W' = W·s (per output channel),   b' = (b − μ)·s + β.

The fold is linear in the conv's own tensors, so θ* and every direction fold separately:
a direction δW becomes δW·s and a moved conv bias δb becomes δb·s (β and μ are constants of the
base). A grid point base' + Σ c_d·d'_d of the folded model then computes exactly what
base + Σ c_d·d_d computes in the original, with one tensor pass per BN fewer per forward.

    >>> folded = fold_batchnorm(model, base, directions, static)
    >>> if folded is not None:
    ...     model, base, directions, static = folded

On a CPU the folded model can go one step further (`fuse_convolutions`): each conv→ReLU and
conv→add→ReLU becomes one oneDNN call, on weights prepacked into oneDNN's own layout once per
grid point (`pack_weights`), which is what inductor's freezing does once for fixed weights.
"""

from __future__ import annotations

import copy
import logging
import operator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, fx, nn
from torch.nn.modules.batchnorm import _BatchNorm

from landscape.engine.types import Params

__all__ = ["fold_batchnorm", "to_channels_last", "FusedConvs", "fuse_convolutions",
           "pack_weights"]

log = logging.getLogger(__name__)

# conv type -> the BN type that may follow it (same spatial rank; exact types only, so a
# subclass with its own forward is never folded)
_PAIRS: dict[type[nn.Module], type[nn.Module]] = {
    nn.Conv1d: nn.BatchNorm1d,
    nn.Conv2d: nn.BatchNorm2d,
    nn.Conv3d: nn.BatchNorm3d,
}
_BN_TENSORS = ("weight", "bias", "running_mean", "running_var")


def fold_batchnorm(model: nn.Module, base: Params, directions: list[Params], static: Params
                   ) -> tuple[nn.Module, Params, list[Params], Params] | None:
    """A model without its conv→BN pairs, and the tensors folded to match it.

    The inputs are those of `landscape.engine.evaluate.evaluate_points`: `base` holds the tensors
    the directions move (keyed by `named_parameters()`/`state_dict()` names), `directions` are keyed
    like `base`, `static` holds the other state tensors (e.g. on the device). A tensor found in
    neither is read from `model`.

    Every BatchNorm{1,2,3}d whose only input is a Conv{1,2,3}d of the same rank, where that
    conv's output feeds nothing else and both modules are called once, is removed; the conv
    gets a bias. Folding is valid only when no direction moves such a BN: its γ, β, running
    mean and variance must be absent from `base` or have all-zero directions.

    Args:
        model: the network; it is not modified (it is traced as a deep copy).
        base: θ*, the moved tensors.
        directions: one or more directions keyed like `base`.
        static: the other state tensors.

    Returns:
        `(folded_model, base, directions, static)`, or None when folding is not valid or not
        useful: a direction moves a BN that follows a conv, the model cannot be traced by
        `torch.fx.symbolic_trace`, a BN keeps no running statistics, or there is no conv→BN
        pair. The folded model is a `torch.fx.GraphModule` in eval mode whose own tensors are
        the folded θ*; it computes the eval-mode function of `model` (BN on running statistics),
        for use with `torch.func.functional_call`. The returned dicts are new; conv biases that
        no direction moves go to `static`, moved ones stay in `base`. Keys the folded model no
        longer has (the folded BNs' tensors) are dropped. Folding is done in float64 and cast
        back to each tensor's dtype.
    """
    try:
        traced = fx.symbolic_trace(copy.deepcopy(model))
    except Exception as err:  # noqa: BLE001 - any tracing failure means: keep the plain path
        log.debug("fold_batchnorm: model not traceable (%s); not folding", err)
        return None
    pairs = _conv_bn_pairs(traced)
    if not pairs:
        return None

    def lookup(key: str) -> Tensor | None:
        if key in base:
            return base[key]
        if key in static:
            return static[key]
        return _model_tensor(traced, key)

    for _, bn_node in pairs:
        for attr in _BN_TENSORS:
            key = f"{bn_node.target}.{attr}"
            if key in base and any(bool(d[key].any()) for d in directions):
                log.debug("fold_batchnorm: direction moves %s; not folding", key)
                return None
        if any(lookup(f"{bn_node.target}.{attr}") is None
               for attr in ("running_mean", "running_var")):
            return None

    new_base = dict(base)
    new_dirs = [dict(d) for d in directions]
    new_static = dict(static)
    for conv_node, bn_node in pairs:
        conv_name, bn_name = str(conv_node.target), str(bn_node.target)
        conv = traced.get_submodule(conv_name)
        bn = traced.get_submodule(bn_name)
        mean = lookup(f"{bn_name}.running_mean")
        var = lookup(f"{bn_name}.running_var")
        weight_key, bias_key = f"{conv_name}.weight", f"{conv_name}.bias"
        weight = lookup(weight_key)
        if mean is None or var is None or weight is None:  # checked above; for type checkers
            return None
        gamma = lookup(f"{bn_name}.weight") if bn.affine else None
        beta = lookup(f"{bn_name}.bias") if bn.affine else None
        conv_bias = lookup(bias_key) if conv.bias is not None else None

        scale = torch.rsqrt(var.double() + bn.eps)
        if gamma is not None:
            scale = scale * gamma.double()
        scale = scale.to(weight.device)
        shape = (-1,) + (1,) * (weight.dim() - 1)
        bias = -mean.double().to(weight.device) * scale
        if conv_bias is not None:
            bias = bias + conv_bias.double().to(weight.device) * scale
        if beta is not None:
            bias = bias + beta.double().to(weight.device)

        folded_weight = (weight.double() * scale.view(shape)).to(weight.dtype)
        folded_bias = bias.to(weight.dtype)
        if weight_key in base:
            new_base[weight_key] = folded_weight
            for d, nd in zip(directions, new_dirs, strict=True):
                nd[weight_key] = (d[weight_key].double() * scale.view(shape)
                                  ).to(d[weight_key].dtype)
        else:
            new_static[weight_key] = folded_weight
        if bias_key in base:  # a moved conv bias: only its direction scales, β and μ are base's
            new_base[bias_key] = folded_bias
            for d, nd in zip(directions, new_dirs, strict=True):
                nd[bias_key] = (d[bias_key].double() * scale).to(d[bias_key].dtype)
        else:
            new_static[bias_key] = folded_bias

        _replace_conv(traced, conv_name, conv, folded_weight, folded_bias)
        bn_node.replace_all_uses_with(conv_node)
        traced.graph.erase_node(bn_node)
        parent, _, field = bn_name.rpartition(".")
        delattr(traced.get_submodule(parent) if parent else traced, field)

    traced.graph.lint()
    traced.recompile()
    traced.eval()
    keys = set(dict(traced.named_parameters(remove_duplicate=False))) | set(
        dict(traced.named_buffers(remove_duplicate=False)))
    new_base = {k: v for k, v in new_base.items() if k in keys}
    new_dirs = [{k: v for k, v in d.items() if k in keys} for d in new_dirs]
    new_static = {k: v for k, v in new_static.items() if k in keys and k not in new_base}
    log.debug("fold_batchnorm: folded %d BatchNorm layers", len(pairs))
    return traced, new_base, new_dirs, new_static


def to_channels_last(params: Params) -> Params:
    """The same tensors with every 4-D one in `torch.channels_last` memory format (values equal).

    With the inputs converted too (`x.to(memory_format=torch.channels_last)`), oneDNN (CPU)
    and cuDNN (GPU) convolutions run without layout conversions.
    """
    return {k: t.contiguous(memory_format=torch.channels_last) if t.dim() == 4 else t
            for k, t in params.items()}


def _conv_bn_pairs(traced: fx.GraphModule) -> list[tuple[fx.Node, fx.Node]]:
    """(conv node, BN node) pairs that can be folded, in graph order."""
    modules = dict(traced.named_modules())
    calls: dict[str, int] = {}
    for node in traced.graph.nodes:
        if node.op == "call_module":
            calls[str(node.target)] = calls.get(str(node.target), 0) + 1
    pairs = []
    for node in traced.graph.nodes:
        bn = modules.get(str(node.target)) if node.op == "call_module" else None
        if not isinstance(bn, _BatchNorm) or len(node.args) != 1 or node.kwargs:
            continue
        src = node.args[0]
        if not isinstance(src, fx.Node) or src.op != "call_module" or len(src.users) != 1:
            continue
        conv = modules.get(str(src.target))
        if conv is None or _PAIRS.get(type(conv)) is not type(bn) or not bn.track_running_stats:
            continue
        if calls[str(src.target)] != 1 or calls[str(node.target)] != 1:
            continue
        if bn.num_features != conv.out_channels:  # type: ignore[union-attr]
            continue
        pairs.append((src, node))
    return pairs


def _model_tensor(module: nn.Module, key: str) -> Tensor | None:
    parent, _, field = key.rpartition(".")
    try:
        owner = module.get_submodule(parent) if parent else module
    except AttributeError:
        return None
    value = getattr(owner, field, None)
    return value.detach() if isinstance(value, Tensor) else None


def _replace_conv(traced: fx.GraphModule, name: str, conv: nn.Module, weight: Tensor,
                  bias: Tensor) -> None:
    new = type(conv)(conv.in_channels, conv.out_channels, conv.kernel_size,  # type: ignore[call-arg]
                     stride=conv.stride, padding=conv.padding, dilation=conv.dilation,
                     groups=conv.groups, bias=True, padding_mode=conv.padding_mode,
                     device="meta")
    new.weight = nn.Parameter(weight.detach().clone(), requires_grad=False)
    new.bias = nn.Parameter(bias.detach().clone(), requires_grad=False)
    parent, _, field = name.rpartition(".")
    setattr(traced.get_submodule(parent) if parent else traced, field, new)


Geometry = tuple[list[int], list[int], list[int], int]  # padding, stride, dilation, groups


@dataclass(frozen=True)
class FusedConvs:
    """A model whose 2-D convolutions are oneDNN calls with their ReLU (and residual add) fused.

    `module` reads each conv weight named in `weights` by the same name as the model it was
    made from, so `functional_call` substitutes it as before; `pack_weights` turns those
    weights into oneDNN's blocked layout, which the calls take as they are.
    """

    module: fx.GraphModule
    weights: dict[str, Geometry]  # conv weight name -> its geometry, for packing


_UNARY = torch.ops.mkldnn._convolution_pointwise.default if hasattr(
    torch.ops.mkldnn, "_convolution_pointwise") else None
_BINARY = torch.ops.mkldnn._convolution_pointwise.binary if _UNARY is not None else None


def fuse_convolutions(model: fx.GraphModule) -> FusedConvs | None:
    """The traced (e.g. BN-folded) `model` with every Conv2d a oneDNN pointwise call.

    conv → ReLU becomes one call with a ReLU post-op, conv → add → ReLU one call with an add and
    a ReLU post-op (the residual block's end), and any other Conv2d a call with no post-op. It
    computes what `model` computes (up to the rounding of a fused sum); `model` is not changed.

    Returns:
        None when oneDNN is not available or the model has no Conv2d it can take (zeros
        padding given as numbers).
    """
    if _UNARY is None or not torch.backends.mkldnn.is_available():
        return None
    traced = copy.deepcopy(model)
    graph = traced.graph
    modules = dict(traced.named_modules())
    weights: dict[str, Geometry] = {}
    for node in list(graph.nodes):
        conv = modules.get(str(node.target)) if node.op == "call_module" else None
        if type(conv) is not nn.Conv2d or conv.padding_mode != "zeros" \
                or isinstance(conv.padding, str) or len(node.args) != 1 or node.kwargs:
            continue
        name = str(node.target)
        geometry: Geometry = (list(conv.padding), list(conv.stride), list(conv.dilation),
                              conv.groups)
        user = next(iter(node.users)) if len(node.users) == 1 else None
        relu_after_add = None
        if user is not None and user.op == "call_function" and user.target in (
                operator.add, torch.add) and len(user.args) == 2 and not user.kwargs \
                and len(user.users) == 1 and user.args[0] is not user.args[1]:
            after = next(iter(user.users))
            relu_after_add = after if _is_relu(after, modules) else None
        with graph.inserting_before(node):
            weight = graph.get_attr(f"{name}.weight")
            bias = graph.get_attr(f"{name}.bias") if conv.bias is not None else None
        if user is not None and _is_relu(user, modules):
            with graph.inserting_before(user):
                fused = graph.call_function(_UNARY, (node.args[0], weight, bias, *geometry,
                                                     "relu", [], ""))
            user.replace_all_uses_with(fused)
            graph.erase_node(user)
        elif relu_after_add is not None:
            add = user
            other = add.args[1] if add.args[0] is node else add.args[0]
            with graph.inserting_before(relu_after_add):
                fused = graph.call_function(_BINARY, (node.args[0], other, weight, bias,
                                                      *geometry, "add", 1.0, "relu", [], ""))
            relu_after_add.replace_all_uses_with(fused)
            graph.erase_node(relu_after_add)
            graph.erase_node(add)
        else:
            with graph.inserting_before(node):
                fused = graph.call_function(_UNARY, (node.args[0], weight, bias, *geometry,
                                                     "none", [], ""))
            node.replace_all_uses_with(fused)
        graph.erase_node(node)
        weights[f"{name}.weight"] = geometry
    if not weights:
        return None
    graph.lint()
    traced.recompile()
    return FusedConvs(traced.eval(), weights)


def pack_weights(tensors: Params, weights: dict[str, Geometry]) -> Params:
    """The conv weights of `tensors` named in `weights`, reordered into oneDNN's layout (a few
    ms for a ResNet-56); what `FusedConvs.module` reads fastest."""
    reorder = torch.ops.mkldnn._reorder_convolution_weight
    return {k: reorder(tensors[k], *weights[k], None) for k in weights if k in tensors}


def _is_relu(node: fx.Node, modules: dict[str, nn.Module]) -> bool:
    if node.op == "call_module":
        module = modules.get(str(node.target))
        return type(module) is nn.ReLU
    if node.op == "call_function":
        return node.target in (torch.relu, torch.relu_, F.relu)
    return node.op == "call_method" and node.target in ("relu", "relu_")
