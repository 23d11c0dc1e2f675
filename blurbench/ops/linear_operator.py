"""One type for the linear forward models of blurbench: ``A`` and its exact adjoint ``A_adjoint``.

Modelled on deepinv's ``LinearPhysics`` (``A``, ``A_adjoint``, ``A_adjoint_A``, composition), without the noise
model or the dependency. Every solver and loss that needs a forward model takes one of these; each
implementation has a test of the adjoint identity ``<A x, y> = <x, A_adjoint y>`` (tests/test_linear_operator.py).

Implementations: :class:`blurbench.ops.reblur.BlurField` (the space-varying kernel-basis blur, and uniform blur as
its one-kernel case), and GVD's :class:`~blurbench.ops.gvd.kernels.MotionBlur`,
:class:`~blurbench.ops.gvd.kernels.SampledMotionBlur`, :class:`~blurbench.ops.gvd.defocus.DefocusBlur` and
:class:`~blurbench.ops.gvd.energy.BlurOperator` (motion after defocus).
"""

from __future__ import annotations

from torch import Tensor

__all__ = ["Composition", "LinearOperator"]


class LinearOperator:
    """A linear map ``x -> A x`` with its adjoint; subclasses implement :meth:`A` and :meth:`A_adjoint`.

    ``op(x)`` is ``op.A(x)``; ``op2 @ op1`` is the composition ``x -> op2.A(op1.A(x))``.
    """

    def A(self, x: Tensor) -> Tensor:
        """The forward map ``A x``."""
        raise NotImplementedError

    def A_adjoint(self, y: Tensor) -> Tensor:
        """The exact adjoint ``Aᵀ y``: ``<A x, y> = <x, Aᵀ y>`` for every x, y."""
        raise NotImplementedError

    def A_adjoint_A(self, x: Tensor) -> Tensor:
        """The normal operator ``Aᵀ A x`` (least-squares gradients, CG)."""
        return self.A_adjoint(self.A(x))

    def frame(self, f: int) -> LinearOperator | None:
        """The operator of frame ``f`` alone, on inputs [1, ...] — for operators that act on each entry of dim 0
        independently (GVD's blurs); None when it cannot be split (the default)."""
        return None

    def __call__(self, x: Tensor) -> Tensor:
        return self.A(x)

    def __matmul__(self, other: LinearOperator) -> Composition:
        return Composition(self, other)


class Composition(LinearOperator):
    """``outer ∘ inner``: ``A x = outer.A(inner.A(x))``, ``Aᵀ y = inner.Aᵀ(outer.Aᵀ(y))``."""

    def __init__(self, outer: LinearOperator, inner: LinearOperator) -> None:
        self.outer, self.inner = outer, inner

    def A(self, x: Tensor) -> Tensor:
        return self.outer.A(self.inner.A(x))

    def A_adjoint(self, y: Tensor) -> Tensor:
        return self.inner.A_adjoint(self.outer.A_adjoint(y))

    def frame(self, f: int) -> LinearOperator | None:
        outer, inner = self.outer.frame(f), self.inner.frame(f)
        return None if outer is None or inner is None else Composition(outer, inner)
