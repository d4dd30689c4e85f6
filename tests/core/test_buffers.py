"""The buffer pool (neurosim.core.buffers) and the pooled dense product (neurosim.core.dense)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.autograd import forward_ad

import neurosim.core.buffers as buffers
from neurosim.core import Linear
from neurosim.core.dense import _PooledLinear, linear


@pytest.fixture(autouse=True)
def _empty_pool() -> None:
    buffers.clear()


def test_a_freed_block_is_reused_only_after_its_last_view_dies() -> None:
    t = buffers.take((512, 1024), torch.float32)  # 2 MiB
    assert t.shape == (512, 1024) and t.dtype == torch.float32  # noqa: PT018
    assert t.data_ptr() % 64 == 0
    ptr = t.data_ptr()
    view = t[100:]
    del t
    assert buffers.free_bytes() == 0  # the view still uses it
    other = buffers.take((512, 1024), torch.float32)
    assert other.data_ptr() != ptr
    del view
    assert buffers.free_bytes() == 2 << 20
    again = buffers.take((1024, 512), torch.float32)  # same size, other shape
    assert again.data_ptr() == ptr
    assert buffers.free_bytes() == 0
    del other, again


def test_small_or_other_dtypes_come_from_torch() -> None:
    small = buffers.take((10, 10), torch.float32)
    half = buffers.take((2048, 1024), torch.float16)
    del small, half
    assert buffers.free_bytes() == 0


def test_limits_on_free_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = [buffers.take((256, 1024), torch.float32) for _ in range(6)]  # 1 MiB each
    del blocks
    assert buffers.free_bytes() == buffers.MAX_FREE_PER_SIZE << 20
    monkeypatch.setattr(buffers, "MAX_FREE_BYTES", 5 << 20)
    big = buffers.take((512, 1024), torch.float64)  # 4 MiB: evicts the oldest 1 MiB blocks
    del big
    assert buffers.free_bytes() == (1 << 20) + (4 << 20)


@pytest.fixture
def _pool_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(buffers, "MIN_BYTES", 0)


@pytest.mark.usefixtures("_pool_everything")
@pytest.mark.parametrize("bias", [True, False])
def test_pooled_linear_equals_f_linear(bias: bool) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, 3, 7, generator=g, requires_grad=True)
    w = torch.randn(4, 7, generator=g, requires_grad=True)
    b = torch.randn(4, generator=g, requires_grad=True) if bias else None
    ours = linear(x, w, b)
    ref = F.linear(x, w, b)
    assert torch.equal(ours, ref)
    up = torch.randn(ref.shape, generator=g)
    leaves = [x, w] + ([b] if b is not None else [])
    for a, r in zip(
        torch.autograd.grad(ours, leaves, up), torch.autograd.grad(ref, leaves, up), strict=True
    ):
        torch.testing.assert_close(a, r)


@pytest.mark.usefixtures("_pool_everything")
def test_pooled_linear_gradcheck_and_double_backward() -> None:
    g = torch.Generator().manual_seed(1)
    args = [
        torch.randn(6, 5, generator=g, dtype=torch.float64, requires_grad=True),
        torch.randn(3, 5, generator=g, dtype=torch.float64, requires_grad=True),
        torch.randn(3, generator=g, dtype=torch.float64, requires_grad=True),
    ]
    assert torch.autograd.gradcheck(_PooledLinear.apply, args)
    assert torch.autograd.gradgradcheck(_PooledLinear.apply, args)


@pytest.mark.usefixtures("_pool_everything")
# forward-mode AD loads torch's decompositions, which warn about torch.jit.script
@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_other_cases_take_f_linear() -> None:
    lin = Linear(5, 3)
    x = torch.randn(2, 4, 5)
    with forward_ad.dual_level():  # forward-mode AD: the custom function has no jvp
        dual = forward_ad.make_dual(x, torch.ones_like(x))
        out = forward_ad.unpack_dual(lin(dual))
    torch.testing.assert_close(out.tangent, F.linear(torch.ones_like(x), lin.weight))
    assert lin.half()(x.half()).dtype == torch.float16


@pytest.mark.usefixtures("_pool_everything")
def test_linear_layers_take_the_pooled_product() -> None:
    """A Linear layer's weight is an nn.Parameter: the pooled function must accept it."""
    lin = Linear(5, 3)
    x = torch.randn(2, 4, 5, requires_grad=True)
    y = lin(x)
    assert y.grad_fn is not None
    assert type(y.grad_fn.next_functions[0][0]).__name__ == "_PooledLinearBackward"
    y.sum().backward()
    ref = torch.autograd.grad(F.linear(x, lin.weight, lin.bias).sum(), [x, lin.weight])
    torch.testing.assert_close(x.grad, ref[0])
    torch.testing.assert_close(lin.weight.grad, ref[1])
