"""The decoders' fast paths against the reference computations they replace."""

from __future__ import annotations

import pytest
import torch

from course_lib import sdes
from course_lib.nets import DECODER_SIZES, build_decoder, inference_call


@pytest.mark.parametrize("name", sdes.names())
def test_network_score_is_the_network_through_inputs_and_output_maps(name):
    sde = sdes.get(name)
    torch.manual_seed(1)
    x0 = torch.randn(6, 16, 2)
    state = sde.initial_state(x0)
    t = torch.linspace(sde.t_eps, sde.T, 6)
    weight = torch.randn(2, 2)

    def network(x_in: torch.Tensor, c_noise: torch.Tensor) -> torch.Tensor:
        data = x_in[..., :2] if x_in.shape[-1] != 2 else x_in
        return data @ weight + c_noise[:, None, None]

    x_in, c_noise = sde.network_inputs(state, t)
    expected = sde.score_from_output(network(x_in, c_noise), state, t)
    assert torch.equal(sde.network_score(network, state, t), expected)


@pytest.mark.parametrize("size", sorted(DECODER_SIZES))
def test_one_trace_serves_every_batch_size_of_every_decoder(size):
    """A trace made at one batch size gives the decoder's outputs exactly at others."""
    torch.manual_seed(3)
    decoder = build_decoder(size, horizon=16, in_channels=2, out_channels=2).eval()
    for p in decoder.parameters():
        torch.nn.init.normal_(p, std=0.05)
    cond_dim = DECODER_SIZES[size].cond_dim
    with torch.no_grad():
        for batch in (50, 1, 7, 64):
            x, c, cond = torch.randn(batch, 16, 2), torch.rand(batch), torch.randn(batch, cond_dim)
            assert torch.equal(inference_call(decoder, x, c, cond), decoder(x, c, cond))


@pytest.mark.parametrize("size", ["tiny", "unet-small"])
def test_inference_call_gives_the_decoders_outputs_and_follows_its_weights(size):
    torch.manual_seed(2)
    decoder = build_decoder(size, horizon=16, in_channels=2, out_channels=2).eval()
    for p in decoder.parameters():  # adaLN-Zero starts at zero: give the output something to show
        torch.nn.init.normal_(p, std=0.05)
    x, c, cond = torch.randn(3, 16, 2), torch.rand(3), torch.randn(3, DECODER_SIZES[size].cond_dim)
    with torch.no_grad():
        assert torch.equal(inference_call(decoder, x, c, cond), decoder(x, c, cond))
        for p in decoder.parameters():
            p.add_(0.01)  # an optimiser or EMA step changes the weights in place
        assert torch.equal(inference_call(decoder, x, c, cond), decoder(x, c, cond))
        one = inference_call(decoder, x[:1], c[:1], cond[:1])  # another batch: the same trace
        assert torch.equal(one, decoder(x[:1], c[:1], cond[:1]))
    out = inference_call(decoder, x, c, cond)  # with autograd on: the module itself
    out.square().sum().backward()
    assert all(p.grad is not None for p in decoder.parameters() if p.requires_grad)


def test_the_training_attention_is_the_modules_attention_with_its_gradients():
    """``_self_attention`` (training, autograd on) and ``nn.MultiheadAttention`` (inference) give
    the same outputs and the same weight gradients."""
    from course_lib.nets import _self_attention

    torch.manual_seed(0)
    attn = torch.nn.MultiheadAttention(32, 4, batch_first=True)
    h = torch.randn(5, 4, 32)
    grads = []
    for call in (_self_attention, lambda a, x: a(x, x, x, need_weights=False)[0]):
        attn.zero_grad()
        out = call(attn, h)
        (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
        grads.append((out.detach(), [p.grad.clone() for p in attn.parameters()]))
    torch.testing.assert_close(grads[0][0], grads[1][0], rtol=1e-5, atol=1e-6)
    for mine, module in zip(grads[0][1], grads[1][1], strict=True):
        torch.testing.assert_close(mine, module, rtol=1e-5, atol=1e-6)
