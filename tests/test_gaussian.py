"""The one Gaussian filter (ops/gaussian.py): impulse response, normalisation, both paddings."""

import pytest
import torch

from blurbench.ops.gaussian import gaussian_filter2d, gaussian_taps


def test_impulse_response_is_the_outer_product_of_the_taps_and_sums_to_one():
    g = gaussian_taps(1.5, 5, dtype=torch.float64)
    assert g.shape == (11,) and torch.isclose(g.sum(), torch.tensor(1.0, dtype=torch.float64))
    assert torch.equal(g, g.flip(0)) and g.argmax() == 5
    x = torch.zeros(1, 2, 21, 21, dtype=torch.float64)
    x[:, :, 10, 10] = 1
    y = gaussian_filter2d(x, 1.5, 5)
    torch.testing.assert_close(y[0, 1, 5:16, 5:16], torch.outer(g, g))
    valid = gaussian_filter2d(x, 1.5, 5, padding="valid")
    assert valid.shape == (1, 2, 11, 11)
    torch.testing.assert_close(valid[0, 0], torch.outer(g, g))


def test_constant_images_stay_constant_and_bad_arguments_are_refused():
    x = torch.full((1, 3, 9, 7), 0.3)
    torch.testing.assert_close(gaussian_filter2d(x, 2.0), x)  # replicate borders: no darkening at the edges
    assert gaussian_taps(0.4).numel() == 5  # radius ceil(3σ) = 2
    with pytest.raises(ValueError, match="sigma"):
        gaussian_taps(0.0)
    with pytest.raises(ValueError, match="padding"):
        gaussian_filter2d(x, 1.0, padding="reflect")
