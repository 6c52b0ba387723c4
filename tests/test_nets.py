"""The decoders' fast paths against the reference computations they replace."""

from __future__ import annotations

import pytest
import torch

from course_lib import sdes
from course_lib.nets import DiTBlock


@pytest.mark.parametrize("training", [True, False])
def test_dit_attention_equals_multihead_attention_with_the_same_weights(training):
    torch.manual_seed(0)
    block = DiTBlock(dim=32, heads=4).train(training)
    h = torch.randn(5, 4, 32, requires_grad=True)
    fast = block._attention(h)
    reference = block.attn(h, h, h, need_weights=False)[0]
    torch.testing.assert_close(fast, reference, rtol=1e-5, atol=1e-6)
    (grad_fast,) = torch.autograd.grad(fast.square().sum(), h)
    (grad_reference,) = torch.autograd.grad(reference.square().sum(), h)
    torch.testing.assert_close(grad_fast, grad_reference, rtol=1e-5, atol=1e-6)


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
