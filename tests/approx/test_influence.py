import pytest
import torch

from graphforget.approx.influence import ObjectiveHessian, inverse_hvp, largest_eigenvalue
from graphforget.errors import SolverError
from graphforget.models import build_model
from graphforget.testing import small_graph
from graphforget.training import TrainConfig, train_node_classifier, training_objective


@pytest.fixture(scope="module")
def sgc_setup():
    data = small_graph(num_nodes=60, num_features=5)
    model = build_model("sgc", 5, 3, num_layers=2)
    train_node_classifier(model, data, TrainConfig(epochs=50, weight_decay=5e-3), seed=0)
    hess = ObjectiveHessian(model, data, data.train_mask, weight_decay=5e-3)
    return model, data, hess


def test_hvp_matches_autograd_hessian_including_weight_decay(sgc_setup):
    model, data, hess = sgc_setup
    params = [p for p in model.parameters()]
    shapes = [p.shape for p in params]

    def f(flat):
        chunks, i = [], 0
        for s in shapes:
            n = int(torch.tensor(s).prod())
            chunks.append(flat[i:i + n].view(s))
            i += n
        out = torch.func.functional_call(model, dict(zip([k for k, _ in model.named_parameters()], chunks, strict=False)),
                                         (data.x, data.edge_index))
        loss = torch.nn.functional.cross_entropy(out[data.train_mask], data.y[data.train_mask])
        return loss + 0.5 * 5e-3 * (flat * flat).sum()

    theta = torch.cat([p.detach().reshape(-1) for p in params])
    full = torch.autograd.functional.hessian(f, theta)
    assert torch.allclose(hess.dense(), full, atol=1e-5)
    # and the objective helper agrees with f
    assert torch.isclose(training_objective(model, data, data.train_mask, 5e-3), f(theta), atol=1e-6)


def test_cg_and_lissa_match_exact(sgc_setup):
    _, _, hess = sgc_setup
    v = torch.randn(hess.dim, generator=torch.Generator().manual_seed(0))
    exact = inverse_hvp(hess.matvec, v, method="exact", damping=1e-2)
    assert exact.residual < 1e-4
    cg = inverse_hvp(hess.matvec, v, method="cg", damping=1e-2, iterations=500, tol=1e-6)
    assert cg.residual <= 1e-6
    assert torch.allclose(cg.solution, exact.solution, rtol=1e-3, atol=1e-3 * exact.solution.abs().max())
    exact = inverse_hvp(hess.matvec, v, method="exact", damping=0.2)
    lissa = inverse_hvp(hess.matvec, v, method="lissa", damping=0.2, iterations=400)
    assert lissa.residual < 1e-3
    assert torch.allclose(lissa.solution, exact.solution, rtol=1e-2, atol=1e-2 * exact.solution.abs().max())


def test_gif_recursion_fixed_point_and_formula(sgc_setup):
    _, _, hess = sgc_setup
    v = torch.randn(hess.dim, generator=torch.Generator().manual_seed(1))
    s, d = 2.0 * largest_eigenvalue(hess.matvec, hess.dim), 0.1
    # two iterations by hand: h <- v + (1-d) h - H h / s, from h0 = v
    h = v.clone()
    for _ in range(2):
        h = v + (1 - d) * h - hess.matvec(h) / s
    two = inverse_hvp(hess.matvec, v, method="gif", damping=d, scale=s, iterations=2)
    assert torch.allclose(two.solution, h / s)
    # converged, it solves (H + d s I) x = v
    far = inverse_hvp(hess.matvec, v, method="gif", damping=d, scale=s, iterations=400)
    exact = inverse_hvp(hess.matvec, v, method="exact", damping=d * s)
    assert torch.allclose(far.solution, exact.solution, rtol=1e-2, atol=1e-2 * exact.solution.abs().max())


def test_power_iteration_eigenvalue(sgc_setup):
    _, _, hess = sgc_setup
    top = torch.linalg.eigvalsh(hess.dense().double())[-1].item()
    assert largest_eigenvalue(hess.matvec, hess.dim, iterations=200) == pytest.approx(top, rel=1e-2)


def test_gauss_newton_is_psd_and_exact_for_linear_model(sgc_setup):
    model, data, _ = sgc_setup
    gn = ObjectiveHessian(model, data, data.train_mask, weight_decay=5e-3, kind="gauss_newton")
    exact = ObjectiveHessian(model, data, data.train_mask, weight_decay=5e-3)
    # for a linear model with cross-entropy the Gauss-Newton matrix equals the Hessian
    assert torch.allclose(gn.dense(), exact.dense(), atol=1e-5)


def test_divergence_and_nan_raise(sgc_setup):
    _, _, hess = sgc_setup
    v = torch.ones(hess.dim)
    with pytest.raises(SolverError, match="scale"):
        inverse_hvp(hess.matvec, v, method="lissa", scale=1e-3, iterations=200)
    with pytest.raises(SolverError):
        inverse_hvp(hess.matvec, v * float("nan"), method="cg")
    with pytest.raises(SolverError, match="damping"):
        inverse_hvp(lambda x: -x, v, method="cg")
    with pytest.raises(SolverError, match="residual"):
        inverse_hvp(hess.matvec, v, method="cg", iterations=1, max_residual=1e-12)


def test_preconditioned_cg_same_solution_fewer_iterations():
    g = torch.Generator().manual_seed(0)
    A = torch.randn(60, 60, generator=g, dtype=torch.float64)
    H = A @ A.T + torch.diag(torch.logspace(0, 3, 60, dtype=torch.float64))  # ill-conditioned
    v = torch.randn(60, generator=g, dtype=torch.float64)
    exact = torch.linalg.solve(H, v)
    plain = inverse_hvp(lambda x: H @ x, v, method="cg", iterations=500, tol=1e-10)
    L = torch.linalg.cholesky(H + 0.05 * torch.eye(60, dtype=torch.float64))  # an approximate factor
    pre = inverse_hvp(lambda x: H @ x, v, method="cg", iterations=500, tol=1e-10,
                      preconditioner=lambda r: torch.cholesky_solve(r.view(-1, 1), L).view(-1))
    assert torch.allclose(pre.solution, exact, atol=1e-8, rtol=0)
    assert torch.allclose(plain.solution, exact, atol=1e-8, rtol=0)
    assert pre.iterations < plain.iterations
    # the stopping rule tests the unpreconditioned residual
    assert float((H @ pre.solution - v).norm()) <= 1e-10 * float(v.norm()) * 1.01
    L_exact = torch.linalg.cholesky(H)
    one = inverse_hvp(lambda x: H @ x, v, method="cg", iterations=50, tol=1e-10,
                      preconditioner=lambda r: torch.cholesky_solve(r.view(-1, 1), L_exact).view(-1))
    assert one.iterations <= 2


def test_cg_reuses_a_given_first_product(sgc_setup):
    _, _, hess = sgc_setup
    v = torch.randn(hess.dim, generator=torch.Generator().manual_seed(2))
    plain = inverse_hvp(hess.matvec, v, method="cg", damping=1e-3, iterations=40, tol=1e-5)
    before = hess.products
    hv = hess.matvec(v)
    reused = inverse_hvp(hess.matvec, v, method="cg", damping=1e-3, iterations=40, tol=1e-5, hv=hv)
    # the given product replaces CG's first one: same iterates, one product fewer inside CG
    assert hess.products - before == reused.iterations
    assert reused.iterations == plain.iterations
    assert torch.allclose(reused.solution, plain.solution, rtol=1e-4, atol=1e-6)


def test_cg_returns_its_smallest_residual_iterate_on_an_indefinite_matrix():
    # eigenvalues from -0.05 to 1 with many near zero: CG's residual is not monotone here
    g = torch.Generator().manual_seed(3)
    q, _ = torch.linalg.qr(torch.randn(40, 40, generator=g, dtype=torch.double))
    eig = torch.cat([torch.linspace(1e-3, 1.0, 38, dtype=torch.double), torch.tensor([-0.05, 2e-4],
                                                                                  dtype=torch.double)])
    a = q @ torch.diag(eig) @ q.T
    v = torch.randn(40, generator=g, dtype=torch.double)
    residuals = [inverse_hvp(lambda x: a @ x, v, method="cg", iterations=k, tol=1e-12).residual
                 for k in range(1, 30)]
    # the reported residual is the true one of the returned iterate, and never grows with k
    last = inverse_hvp(lambda x: a @ x, v, method="cg", iterations=29, tol=1e-12, true_residual=True)
    assert last.residual == pytest.approx(residuals[-1], rel=1e-6)
    assert all(b <= a_ + 1e-12 for a_, b in zip(residuals, residuals[1:], strict=False))
    assert residuals[-1] < residuals[0]
