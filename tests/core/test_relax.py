import torch

import neurosim as ns


def test_relaxed_emits_the_smooth_step_and_leaves_the_original() -> None:
    torch.manual_seed(0)
    net = ns.Sequential(ns.Linear(4, 6), ns.LIF(v_th=0.3, surrogate="sigmoid"), ns.S2NN())
    x = torch.rand(3, 2, 4)
    smooth = ns.relaxed(net)
    assert set(net(x).unique().tolist()) <= {0.0, 1.0}
    run = smooth.run(x, record_membrane=True)
    s = run.activity[1].output
    v = run.membranes[1]
    torch.testing.assert_close(s, torch.sigmoid(25.0 * (v - 0.3)))
    assert not set(s.unique().tolist()) <= {0.0, 1.0}
    for backend in ("loop", "fused"):
        lif = ns.LIF(v_th=0.3, surrogate="sigmoid", backend=backend)
        lif.smooth_forward = True
        out, _ = lif(x[..., :1].expand(3, 2, 6).contiguous())
        assert not set(out.unique().tolist()) <= {0.0, 1.0}
