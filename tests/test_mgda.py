"""src.training.mgda against brute force (K=2), scipy SLSQP on the simplex (K=3, 4) and hand-solved edge cases."""
import numpy as np
import pytest
from scipy.optimize import minimize

from src.training.mgda import gram_matrix, min_norm_weights


def objective(weights, gram):
    return float(weights @ gram @ weights)


def assert_on_simplex(weights, size):
    assert weights.shape == (size,)
    assert (weights >= 0).all()
    assert weights.sum() == pytest.approx(1.0, abs=1e-12)


def slsqp_weights(gram):
    size = gram.shape[0]
    result = minimize(lambda w: w @ gram @ w, np.full(size, 1.0 / size), jac=lambda w: 2 * gram @ w,
                      method="SLSQP", bounds=[(0.0, 1.0)] * size,
                      constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0, "jac": lambda w: np.ones(size)}],
                      options={"ftol": 1e-14, "maxiter": 1000})
    assert result.success, result.message
    return result.x


def random_gradients(rng, num_tasks, dim, shared):
    """Task gradients with a common component of weight ``shared`` (typical of datasets sharing an encoder)."""
    common = rng.standard_normal(dim)
    return [shared * common + rng.standard_normal(dim) for _ in range(num_tasks)]


@pytest.mark.parametrize("seed", range(6))
def test_two_tasks_match_grid_search(seed):
    rng = np.random.default_rng(seed)
    g1, g2 = random_gradients(rng, 2, 7, shared=[0.0, 1.0, 3.0][seed % 3])
    if seed == 5:
        g1 = 0.1 * g2 + 0.01 * rng.standard_normal(7)  # optimum on the boundary (gamma = 1)
    gram = gram_matrix([g1, g2])
    weights = min_norm_weights(gram)
    assert_on_simplex(weights, 2)
    grid = np.linspace(0.0, 1.0, 100001)
    norms = np.sum((grid[:, None] * g1 + (1 - grid[:, None]) * g2) ** 2, axis=1)
    assert weights[0] == pytest.approx(grid[np.argmin(norms)], abs=2e-5)
    assert objective(weights, gram) <= norms.min() + 1e-12
    if seed == 5:
        assert weights[0] == 1.0


@pytest.mark.parametrize("num_tasks", [3, 4])
@pytest.mark.parametrize("seed", range(5))
def test_more_tasks_match_slsqp(num_tasks, seed):
    rng = np.random.default_rng(100 + seed)
    gram = gram_matrix(random_gradients(rng, num_tasks, 12, shared=[0.0, 0.5, 1.0, 2.0, 4.0][seed]))
    weights = min_norm_weights(gram)
    assert_on_simplex(weights, num_tasks)
    expected = slsqp_weights(gram)
    assert objective(weights, gram) <= objective(expected, gram) + 1e-10 * np.trace(gram)
    np.testing.assert_allclose(weights, expected, atol=1e-5)
    # KKT: (G w)_k equals its minimum on the support and is not smaller off the support.
    slopes = gram @ weights
    support = weights > 0
    np.testing.assert_allclose(slopes[support], slopes.min(), atol=1e-9 * np.trace(gram))


def test_solution_on_a_face_has_exact_zeros():
    """g3 = g1 + g2 is never useful: the optimum lies on the (g1, g2) edge."""
    g1, g2 = np.array([1.0, 0.0, 0.2]), np.array([0.0, 1.0, 0.2])
    weights = min_norm_weights(gram_matrix([g1, g2, g1 + g2]))
    assert weights[2] == 0.0
    np.testing.assert_allclose(weights, [0.5, 0.5, 0.0], atol=1e-9)


@pytest.mark.parametrize("num_tasks", [2, 3])
def test_identical_gradients(num_tasks):
    g = np.array([0.3, -1.0, 2.0])
    gram = gram_matrix([g] * num_tasks)
    weights = min_norm_weights(gram)
    assert_on_simplex(weights, num_tasks)
    assert objective(weights, gram) == pytest.approx(g @ g, rel=1e-12)
    if num_tasks == 2:
        np.testing.assert_array_equal(weights, [0.5, 0.5])


@pytest.mark.parametrize("num_tasks", [2, 3, 4])
def test_one_zero_gradient_gets_all_weight(num_tasks):
    rng = np.random.default_rng(7)
    grads = [rng.standard_normal(5) for _ in range(num_tasks)]
    grads[1] = np.zeros(5)
    weights = min_norm_weights(gram_matrix(grads))
    np.testing.assert_allclose(weights, np.eye(num_tasks)[1], atol=1e-9)


@pytest.mark.parametrize("extra", [0, 1, 2])
def test_opposite_gradients_reach_zero_norm(extra):
    rng = np.random.default_rng(11)
    g = rng.standard_normal(6)
    grads = [g, -g] + [rng.standard_normal(6) for _ in range(extra)]
    gram = gram_matrix(grads)
    weights = min_norm_weights(gram)
    assert_on_simplex(weights, 2 + extra)
    assert np.sum(sum(w * v for w, v in zip(weights, grads)) ** 2) <= 1e-10
    np.testing.assert_allclose(weights, [0.5, 0.5] + [0.0] * extra, atol=1e-6)


def test_trivial_inputs():
    np.testing.assert_array_equal(min_norm_weights(np.array([[4.0]])), [1.0])
    np.testing.assert_array_equal(min_norm_weights(np.zeros((3, 3))), [1 / 3] * 3)


def test_gram_matrix_flattens_and_checks_sizes():
    a = np.arange(6.0).reshape(2, 3)
    b = np.ones((3, 2), np.float32)
    np.testing.assert_array_equal(gram_matrix([a, b]), [[55.0, 15.0], [15.0, 6.0]])
    with pytest.raises(ValueError, match="same number of elements"):
        gram_matrix([a, np.ones(5)])
    with pytest.raises(ValueError, match="at least one"):
        gram_matrix([])


def test_float32_round_off_asymmetry_is_accepted():
    gram = gram_matrix(random_gradients(np.random.default_rng(3), 3, 8, shared=1.0))
    noisy = gram.astype(np.float32)
    noisy[0, 1] *= 1 + 1e-7
    np.testing.assert_allclose(min_norm_weights(noisy), min_norm_weights(gram), atol=1e-5)


@pytest.mark.parametrize("gram,message", [
    (np.ones((2, 3)), "square"),
    (np.array([[1.0, 0.5], [0.2, 1.0]]), "symmetric"),
    (np.array([[1.0, np.nan], [np.nan, 1.0]]), "NaN"),
])
def test_bad_gram_raises(gram, message):
    with pytest.raises(ValueError, match=message):
        min_norm_weights(gram)
