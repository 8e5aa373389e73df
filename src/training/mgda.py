"""Min-norm solver of MGDA-UB (Sener & Koltun, "Multi-Task Learning as Multi-Objective Optimization", 2018).

Pareto dataset mixing combines the per-dataset losses ``L_k`` with the convex weights ``alpha`` that minimise
``|| sum_k alpha_k g_k ||^2`` where ``g_k`` is the gradient of ``L_k`` with respect to the shared parameters.
Only the ``K x K`` Gram matrix ``G[i, j] = <g_i, g_j>`` is needed. Pure NumPy (float64).
"""
import logging

import numpy as np

logger = logging.getLogger(__name__)


def gram_matrix(grads):
    """Gram matrix of task gradients.

    Args:
        grads: sequence of ``K >= 1`` arrays of any shape with the same number of elements (each one task's
            gradient over the shared parameters, e.g. all parameter gradients flattened and concatenated).

    Returns:
        ``(K, K)`` float64 array, ``G[i, j] = <g_i, g_j>``.
    """
    flat = [np.asarray(grad, dtype=np.float64).ravel() for grad in grads]
    if not flat:
        raise ValueError("gram_matrix needs at least one gradient")
    sizes = sorted({vector.size for vector in flat})
    if len(sizes) != 1:
        raise ValueError(f"gram_matrix: gradients must have the same number of elements, got sizes {sizes}")
    stacked = np.stack(flat)
    return stacked @ stacked.T


def _two_task_weight(g11, g12, g22):
    """``gamma`` in [0, 1] minimising ``||gamma g1 + (1 - gamma) g2||^2`` (Algorithm 1 of the paper).

    The unconstrained minimiser is ``(g22 - g12) / ||g1 - g2||^2``, clipped to [0, 1]; identical gradients
    (``||g1 - g2|| = 0``, every ``gamma`` optimal) give 0.5.
    """
    distance_sq = g11 + g22 - 2.0 * g12
    if distance_sq <= 0.0:
        return 0.5
    return float(np.clip((g22 - g12) / distance_sq, 0.0, 1.0))


def _check_gram(gram):
    gram = np.asarray(gram, dtype=np.float64)
    if gram.ndim != 2 or gram.shape[0] != gram.shape[1] or gram.shape[0] == 0:
        raise ValueError(f"min_norm_weights: Gram matrix must be square K x K with K >= 1, got shape {gram.shape}")
    if not np.isfinite(gram).all():
        raise ValueError("min_norm_weights: Gram matrix contains NaN or Inf (a task gradient is not finite)")
    scale = float(np.abs(np.diag(gram)).max())
    # float32 round-off (e.g. a Gram matrix reduced on a device) is tolerated and symmetrised away.
    if not np.allclose(gram, gram.T, rtol=1e-5, atol=1e-6 * scale):
        raise ValueError("min_norm_weights: Gram matrix is not symmetric")
    return 0.5 * (gram + gram.T), scale


def min_norm_weights(gram, tol=1e-12, max_iter=1000):
    """Convex weights ``alpha`` (``alpha >= 0``, ``sum alpha = 1``) minimising ``alpha^T G alpha``.

    ``K = 1``: ``[1]``. ``K = 2``: analytic solution. ``K > 2``: Frank-Wolfe (Algorithm 2 of the paper, started
    from uniform weights) with pairwise steps: each step moves weight from the supported task with the largest
    ``(G alpha)_k`` to the task with the smallest, with the exact line search of the two-task case. Pairwise steps
    converge linearly and reach exact zeros; the loop stops when the spread of ``(G alpha)_k`` over the support
    and the minimiser (0 at the optimum, by the KKT conditions) is below ``tol * max_k G[k, k]``, or after
    ``max_iter`` steps. All-zero gradients give uniform weights.

    Args:
        gram: ``(K, K)`` symmetric positive semi-definite Gram matrix (see :func:`gram_matrix`), any float
            dtype, finite (a ValueError is raised otherwise: check for overflow before calling).
        tol (float): relative stopping tolerance.
        max_iter (int): iteration limit for ``K > 2``.

    Returns:
        ``(K,)`` float64 weights.
    """
    gram, scale = _check_gram(gram)
    num_tasks = gram.shape[0]
    if num_tasks == 1 or scale == 0.0:
        return np.full(num_tasks, 1.0 / num_tasks)
    if num_tasks == 2:
        gamma = _two_task_weight(gram[0, 0], gram[0, 1], gram[1, 1])
        return np.array([gamma, 1.0 - gamma])
    weights = np.full(num_tasks, 1.0 / num_tasks)
    for _ in range(max_iter):
        slopes = gram @ weights
        toward = int(np.argmin(slopes))
        support = np.flatnonzero(weights > 0.0)
        away = int(support[np.argmax(slopes[support])])
        if slopes[away] - slopes[toward] <= tol * scale:
            break
        # Exact line search on weights + step * (e_toward - e_away), step in [0, weights[away]].
        curvature = gram[toward, toward] + gram[away, away] - 2.0 * gram[toward, away]
        max_step = weights[away]
        step = max_step if curvature <= 0.0 else min((slopes[away] - slopes[toward]) / curvature, max_step)
        weights[toward] += step
        weights[away] = 0.0 if step == max_step else weights[away] - step
    else:
        logger.debug("min-norm solver stopped after %d iterations without reaching tol=%g", max_iter, tol)
    return weights
