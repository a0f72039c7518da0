"""Export a peephole LSTM cell from PyTorch as a Rewind user cell (two ONNX models).

The forward model is one step of the cell; the backward model is that step's vector-Jacobian product,
written by hand or traced from torch.func.vjp with make_fx. Both are exported in float32 and float64,
with the default (dynamo) exporter and with the legacy TorchScript exporter:

    python export.py --out exported                 # everything
    python export.py --exporter dynamo --backward traced

writes exported/<exporter>-<backward>/{forward,backward}_{float32,float64}.onnx (and the .onnx.data
files the default exporter writes beside them). Then, from this folder:

    npx tsx train.ts exported/dynamo-hand

Names follow the contract of @rewind/backend-onnxruntime's user cells:

    forward   inputs  x [B, I], h_prev [B, H], c_prev [B, H], param_W [4H, I], param_U [4H, H],
                      param_b [4H], param_p_i [H], param_p_f [H], param_p_o [H]
              outputs h [B, H], c [B, H], saved_gates [B, 4H]
    backward  inputs  grad_h, grad_c (the cotangents of h and c), x, h_prev, c_prev, c, saved_gates
                      and the parameters it reads
              outputs grad_h_prev, grad_c_prev, grad_x, grad_param_W, grad_param_U, grad_param_b,
                      grad_param_p_i, grad_param_p_f, grad_param_p_o

Requires torch >= 2.6 (and onnxscript for the default exporter).
"""

import argparse
import os

import torch
from torch import nn
from torch.fx.experimental.proxy_tensor import make_fx

PARAMS = ["W", "U", "b", "p_i", "p_f", "p_o"]
STATE = ["h", "c"]


def peephole_step(x, h_prev, c_prev, W, U, b, p_i, p_f, p_o):
    """One step of an LSTM with peepholes (gate order i, f, g, o as in torch.nn.LSTM)."""
    a = x @ W.T + h_prev @ U.T + b
    a_i, a_f, a_g, a_o = a.chunk(4, dim=1)
    i = torch.sigmoid(a_i + p_i * c_prev)
    f = torch.sigmoid(a_f + p_f * c_prev)
    g = torch.tanh(a_g)
    c = f * c_prev + i * g
    o = torch.sigmoid(a_o + p_o * c)
    h = o * torch.tanh(c)
    return h, c, torch.cat([i, f, g, o], dim=1)


class Forward(nn.Module):
    """The forward model: argument names are the ONNX input names."""

    def forward(self, x, h_prev, c_prev, param_W, param_U, param_b, param_p_i, param_p_f, param_p_o):
        return peephole_step(
            x, h_prev, c_prev, param_W, param_U, param_b, param_p_i, param_p_f, param_p_o
        )


FORWARD_INPUTS = ["x", "h_prev", "c_prev"] + [f"param_{p}" for p in PARAMS]
FORWARD_OUTPUTS = ["h", "c", "saved_gates"]


class HandBackward(nn.Module):
    """The step's VJP written by hand. grad_c is the gradient reaching c from later steps only: the path
    from c through h = o * tanh(c) (and through o's peephole) belongs to this step, so it is added here."""

    def forward(
        self, grad_h, grad_c, x, h_prev, c_prev, c, saved_gates,
        param_W, param_U, param_p_i, param_p_f, param_p_o,
    ):
        i, f, g, o = saved_gates.chunk(4, dim=1)
        tc = torch.tanh(c)
        da_o = grad_h * tc * o * (1 - o)
        dc = grad_c + grad_h * o * (1 - tc * tc) + da_o * param_p_o
        da_i = dc * g * i * (1 - i)
        da_f = dc * c_prev * f * (1 - f)
        da_g = dc * i * (1 - g * g)
        dA = torch.cat([da_i, da_f, da_g, da_o], dim=1)
        return (
            dA @ param_U,  # grad_h_prev
            dc * f + da_i * param_p_i + da_f * param_p_f,  # grad_c_prev
            dA @ param_W,  # grad_x
            dA.T @ x,  # grad_param_W
            dA.T @ h_prev,  # grad_param_U
            dA.sum(0),  # grad_param_b
            (da_i * c_prev).sum(0),  # grad_param_p_i
            (da_f * c_prev).sum(0),  # grad_param_p_f
            (da_o * c).sum(0),  # grad_param_p_o
        )


HAND_INPUTS = [
    "grad_h", "grad_c", "x", "h_prev", "c_prev", "c", "saved_gates",
    "param_W", "param_U", "param_p_i", "param_p_f", "param_p_o",
]
BACKWARD_OUTPUTS = ["grad_h_prev", "grad_c_prev", "grad_x"] + [f"grad_param_{p}" for p in PARAMS]


def vjp_fn(grad_h, grad_c, x, h_prev, c_prev, W, U, b, p_i, p_f, p_o):
    """The step's VJP by torch.func: the cotangents of (h, c) pulled back to every input."""

    def step(x, h_prev, c_prev, W, U, b, p_i, p_f, p_o):
        h, c, _ = peephole_step(x, h_prev, c_prev, W, U, b, p_i, p_f, p_o)
        return h, c

    _, pullback = torch.func.vjp(step, x, h_prev, c_prev, W, U, b, p_i, p_f, p_o)
    gx, gh, gc, gW, gU, gb, gpi, gpf, gpo = pullback((grad_h, grad_c))
    return gh, gc, gx, gW, gU, gb, gpi, gpf, gpo


TRACED_INPUTS = ["grad_h", "grad_c", "x", "h_prev", "c_prev"] + [f"param_{p}" for p in PARAMS]


class TracedBackward(nn.Module):
    """vjp_fn traced by make_fx into a plain graph of aten ops (torch.func.vjp or torch.autograd.grad
    inside an exported module fails with both exporters; the traced graph exports)."""

    def __init__(self, graph):
        super().__init__()
        self.graph = graph

    def forward(
        self, grad_h, grad_c, x, h_prev, c_prev,
        param_W, param_U, param_b, param_p_i, param_p_f, param_p_o,
    ):
        return self.graph(
            grad_h, grad_c, x, h_prev, c_prev,
            param_W, param_U, param_b, param_p_i, param_p_f, param_p_o,
        )


def example_values(I, H, B, dtype, seed=0):
    """Example inputs by name (B >= 2, so that the exporters keep the batch dimension symbolic)."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape):
        return (torch.rand(*shape, generator=g, dtype=torch.float64) * 2 - 1).to(dtype)

    v = {"x": r(B, I), "h_prev": r(B, H), "c_prev": r(B, H)}
    v.update(param_W=r(4 * H, I), param_U=r(4 * H, H), param_b=r(4 * H))
    v.update(param_p_i=r(H), param_p_f=r(H), param_p_o=r(H))
    h, c, gates = Forward()(*(v[n] for n in FORWARD_INPUTS))
    v.update(c=c, saved_gates=gates, grad_h=r(B, H), grad_c=r(B, H))
    return v


def check_backward(module, names, I, H):
    """The backward against torch.autograd in float64, before anything is exported."""
    v = example_values(I, H, 3, torch.float64, seed=1)
    primals = [v[n].clone().requires_grad_(True) for n in FORWARD_INPUTS]
    h, c, _ = peephole_step(*primals)
    expected = torch.autograd.grad((h, c), primals, (v["grad_h"], v["grad_c"]))
    # autograd's order is that of FORWARD_INPUTS: x, h_prev, c_prev, params; ours grad_h_prev, grad_c_prev, grad_x, params.
    expected = [expected[1], expected[2], expected[0]] + list(expected[3:])
    got = module(*(v[n] for n in names))
    for name, e, g in zip(BACKWARD_OUTPUTS, expected, got):
        err = (e - g).abs().max().item()
        if err > 1e-10:
            raise SystemExit(f"{type(module).__name__}: {name} differs from autograd by {err:.3e}")


def export(module, names_in, names_out, values, path, exporter):
    args = tuple(values[n] for n in names_in)
    batch_out = [n for n in names_out if not n.startswith("grad_param_")]
    batch_in = [n for n in names_in if not n.startswith("param_")]
    if exporter == "dynamo":
        B = torch.export.Dim("B")
        dynamic_shapes = {n: ({0: B} if n in batch_in else None) for n in names_in}
        torch.onnx.export(
            module, args, path, dynamo=True,
            input_names=names_in, output_names=names_out,
            dynamic_shapes=dynamic_shapes,
            # The default: weights and constants go to path + ".data". Rewind loads such models from
            # their path; pass external_data=False for one self-contained file.
            external_data=True,
        )
    else:
        torch.onnx.export(
            module, args, path, dynamo=False,
            input_names=names_in, output_names=names_out,
            # Every batch dimension under the same name: Rewind refuses other symbolic sizes.
            dynamic_axes={n: {0: "B"} for n in batch_in + batch_out},
            opset_version=17,
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="exported")
    parser.add_argument("--input-size", type=int, default=3)
    parser.add_argument("--hidden-size", type=int, default=8)
    parser.add_argument("--exporter", choices=["dynamo", "legacy", "both"], default="both")
    parser.add_argument("--backward", choices=["hand", "traced", "both"], default="both")
    a = parser.parse_args()
    I, H = a.input_size, a.hidden_size
    exporters = ["dynamo", "legacy"] if a.exporter == "both" else [a.exporter]
    backwards = ["hand", "traced"] if a.backward == "both" else [a.backward]

    traced64 = make_fx(vjp_fn, tracing_mode="symbolic")(
        *(example_values(I, H, 4, torch.float64)[n] for n in TRACED_INPUTS)
    )
    check_backward(HandBackward(), HAND_INPUTS, I, H)
    check_backward(TracedBackward(traced64), TRACED_INPUTS, I, H)

    for exporter in exporters:
        for kind in backwards:
            if exporter == "legacy" and kind == "traced":
                print("skipped legacy-traced: the legacy exporter does not export make_fx graphs; use dynamo")
                continue
            folder = os.path.join(a.out, f"{exporter}-{kind}")
            os.makedirs(folder, exist_ok=True)
            for dtype, name in [(torch.float32, "float32"), (torch.float64, "float64")]:
                values = example_values(I, H, 4, dtype)
                export(
                    Forward(), FORWARD_INPUTS, FORWARD_OUTPUTS, values,
                    os.path.join(folder, f"forward_{name}.onnx"), exporter,
                )
                if kind == "hand":
                    module, names = HandBackward(), HAND_INPUTS
                else:
                    # Traced in the dtype it is exported in.
                    graph = make_fx(vjp_fn, tracing_mode="symbolic")(*(values[n] for n in TRACED_INPUTS))
                    module, names = TracedBackward(graph), TRACED_INPUTS
                export(
                    module, names, BACKWARD_OUTPUTS, values,
                    os.path.join(folder, f"backward_{name}.onnx"), exporter,
                )
            print(f"wrote {folder}: npx tsx train.ts {folder}  (or rewind check-cell, see README.md)")


if __name__ == "__main__":
    main()
