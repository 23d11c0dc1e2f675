"""Blur detection: field -> score/mask, AP/IoU/F1 metrics, the built-in detection suite and the detection methods."""

import math

import cv2
import numpy as np
import pytest
import torch

from blurbench.metrics.detection import (
    BlurF1,
    BlurIoU,
    MeanAveragePrecision,
    average_precision,
    detection_metrics,
    f1_score,
    iou,
)
from blurbench.ops.detection import blur_mask, blur_score, blurry_kernels, laplacian_blur_score, pixel_blur_score


def _reference_ap(score: np.ndarray, target: np.ndarray) -> float:
    """Direct definition: thresholds at every distinct score, AP = sum (R_n - R_n-1) P_n."""
    score, target = score.ravel(), target.ravel() > 0.5
    ap, prev_recall = 0.0, 0.0
    for t in sorted(set(score.tolist()), reverse=True):
        pred = score >= t
        tp = np.sum(pred & target)
        precision, recall = tp / pred.sum(), tp / target.sum()
        ap += (recall - prev_recall) * precision
        prev_recall = recall
    return ap


# ------------------------------------------------------------------------------------------- metrics
def test_ap_known_answers():
    g = torch.Generator().manual_seed(0)
    target = (torch.rand(3, 1, 16, 20, generator=g) < torch.tensor([0.1, 0.5, 0.8]).view(3, 1, 1, 1)).float()
    torch.testing.assert_close(average_precision(target, target), torch.ones(3, dtype=torch.float64))
    noisy_perfect = target * 0.5 + 0.5 * torch.rand(target.shape, generator=g) * target + 0.4 * (1 - target)
    torch.testing.assert_close(average_precision(noisy_perfect, target), torch.ones(3, dtype=torch.float64))
    fraction = target.flatten(1).mean(1).double()
    torch.testing.assert_close(average_precision(torch.full_like(target, 0.3), target), fraction)
    # an inverted binary map first admits only negatives (no recall gained), then everything: the fraction again
    torch.testing.assert_close(average_precision(1 - target, target), fraction)


@pytest.mark.parametrize("levels", [5, 1000])  # heavy ties / almost none
def test_ap_matches_a_direct_reference_and_torchmetrics(levels):
    from torchmetrics.functional.classification import binary_average_precision

    g = torch.Generator().manual_seed(levels)
    target = (torch.rand(2, 1, 24, 24, generator=g) < 0.3).float()
    score = ((torch.rand(target.shape, generator=g) + 0.6 * target) * levels).floor() / levels
    ours = average_precision(score, target)
    for i in range(2):  # torchmetrics computes in float32: equal to the float64 reference to its rounding
        assert ours[i].item() == pytest.approx(_reference_ap(score[i].numpy(), target[i].numpy()), abs=1e-6)
        ref = binary_average_precision(score[i].flatten(), target[i].flatten().long()).item()
        assert ours[i].item() == pytest.approx(ref, abs=1e-6)


def test_ap_is_undefined_without_blurred_pixels_and_left_out():
    empty = torch.zeros(1, 1, 8, 8)
    assert math.isnan(average_precision(torch.rand(1, 1, 8, 8), empty).item())
    rows = detection_metrics(torch.rand(2, 1, 8, 8), torch.cat([empty, torch.ones(1, 1, 8, 8)]))
    assert "ap" not in rows[0] and rows[1]["ap"] == pytest.approx(1.0)
    m = MeanAveragePrecision()
    m.update(torch.rand(1, 1, 8, 8), empty)
    assert math.isnan(m.compute().item())
    m.update(torch.ones(1, 1, 8, 8), torch.ones(1, 1, 8, 8))
    assert m.compute().item() == pytest.approx(1.0)


def test_iou_f1_and_their_classes():
    target = torch.zeros(2, 1, 4, 4)
    target[:, :, :2] = 1  # 8 blurred pixels
    score = torch.zeros(2, 1, 4, 4)
    score[0, :, :3] = 0.9  # 8 TP, 4 FP
    score[1, :, :1] = 0.5  # 4 TP (>= threshold), 4 FN
    torch.testing.assert_close(iou(score, target), torch.tensor([8 / 12, 4 / 8], dtype=torch.float64))
    torch.testing.assert_close(f1_score(score, target), torch.tensor([16 / 20, 8 / 12], dtype=torch.float64))
    assert iou(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4)).item() == 1.0  # both empty
    m_iou, m_f1, m_ap = BlurIoU(), BlurF1(), MeanAveragePrecision()
    for i in range(2):
        m_iou.update(score[i:i + 1], target[i:i + 1])
        m_f1.update(score[i:i + 1], target[i:i + 1])
        m_ap.update(score[i:i + 1], target[i:i + 1])
    assert m_iou.compute().item() == pytest.approx((8 / 12 + 4 / 8) / 2)
    assert m_f1.compute().item() == pytest.approx((16 / 20 + 8 / 12) / 2)
    assert m_ap.compute().item() == pytest.approx(average_precision(score, target).mean().item())


# --------------------------------------------------------------------------------------- field -> mask
def test_blur_score_sums_the_maps_of_low_norm_kernels():
    k = torch.zeros(1, 3, 5, 5)
    k[0, 0, 2, 2] = 1.0                  # delta: norm 1, sharp
    k[0, 1] = 1 / 25                     # box: norm 0.2, blurry
    k[0, 2, 2, :] = 1 / 5                # 5-tap line: norm 0.447, sharp at 0.25
    g = torch.Generator().manual_seed(0)
    mixing = torch.softmax(torch.randn(1, 3, 6, 7, generator=g), 1)
    assert blurry_kernels(k).tolist() == [[False, True, False]]
    torch.testing.assert_close(blur_score(k, mixing), mixing[:, 1:2])
    torch.testing.assert_close(blur_score(k, mixing, threshold=0.5), mixing[:, 1:3].sum(1, keepdim=True))
    assert torch.equal(blur_mask(k, mixing), mixing[:, 1:2] >= 0.5)
    assert blurry_kernels(k, threshold=0.2).tolist() == [[False, True, False]]  # <= threshold is blurry


def test_pixel_blur_score_is_one_minus_the_norm_of_each_pixels_kernel():
    g = torch.Generator().manual_seed(1)
    k = torch.softmax(3 * torch.randn(2, 4, 7 * 7, generator=g), 2).view(2, 4, 7, 7)
    k[0, 0] = 0.0
    k[0, 0, 3, 3] = 1.0  # a delta
    mixing = torch.softmax(2 * torch.randn(2, 4, 5, 6, generator=g), 1)
    mixing[0, :, 0, 0] = torch.tensor([1.0, 0.0, 0.0, 0.0])  # this pixel's kernel is the delta
    per_pixel = torch.einsum("nbhw,nbk->nhwk", mixing.double(), k.flatten(2).double())  # explicit k_x
    expected = (1 - per_pixel.norm(dim=3)).clamp(0, 1)[:, None].float()
    score = pixel_blur_score(k, mixing)
    torch.testing.assert_close(score, expected, atol=1e-6, rtol=0)
    assert score[0, 0, 0, 0].item() == pytest.approx(0.0, abs=1e-6)
    # the mask of the rule: |k_x| <= threshold, i.e. score >= 1 - threshold
    from blurbench.tasks.detection import FieldBlurDetection

    assert FieldBlurDetection(field="oracle", score="pixel", norm_threshold=0.3).mask_threshold == pytest.approx(0.7)
    assert FieldBlurDetection(field="oracle").mask_threshold == 0.5
    with pytest.raises(ValueError, match="score must be"):
        FieldBlurDetection(field="oracle", score="norm")


def test_laplacian_score_is_higher_on_blurred_texture():
    g = torch.Generator().manual_seed(0)
    img = torch.rand(1, 3, 64, 64, generator=g)
    blurred = torch.from_numpy(cv2.GaussianBlur(img[0].permute(1, 2, 0).numpy(), (0, 0), 3)).permute(2, 0, 1)[None]
    assert laplacian_blur_score(blurred).mean() > laplacian_blur_score(img).mean() + 0.3


# ---------------------------------------------------------------------------------- built-in detection
@pytest.fixture(scope="module")
def detection_samples():
    from blurbench.datamodules import builtin
    from blurbench.datamodules.builtin_detection import BuiltinDetectionDataModule

    builtin.prepare("detection")
    dm = BuiltinDetectionDataModule()
    assert dm.check() == []
    ds = dm.build_test_dataset()
    return [ds[i] for i in range(len(ds))]


def test_builtin_detection_masks_are_exact_and_kernels_clearly_blurry(detection_samples):
    assert len(detection_samples) == 8
    for s in detection_samples:
        mask, kernels, mixing = s["mask"], s["kernels"], s["mixing"]
        assert set(mask.unique().tolist()) == {0.0, 1.0}  # both classes in every image
        assert 0.02 < mask.mean().item() < 0.8
        norms = kernels.flatten(1).norm(dim=1)
        assert norms[0].item() == pytest.approx(1.0) and (norms[1:] <= 0.18 + 1e-6).all()
        # the GT mask is the union of the blurred regions' maps, and the field oracle detects it perfectly
        torch.testing.assert_close(mask[0], mixing[1:].sum(0))
        score = blur_score(kernels[None], mixing[None])
        assert average_precision(score, mask[None]).item() == pytest.approx(1.0)


def test_detection_methods_score_and_write_predictions(detection_samples, tmp_path):
    from blurbench.datamodules.base import collate
    from blurbench.tasks.detection import (
        ConstantBlurDetection,
        FieldBlurDetection,
        LaplacianBlurDetection,
        prediction_paths,
    )

    oracle = FieldBlurDetection(field="oracle")
    rows = [oracle.evaluate_batch(collate([s]))[0] for s in detection_samples[:2]]
    assert [r["ap"] for r in rows] == pytest.approx([1.0, 1.0]) and min(r["iou"] for r in rows) > 0.99
    laplacian, constant = LaplacianBlurDetection(), ConstantBlurDetection()
    fractions = [s["mask"].mean().item() for s in detection_samples]
    # the trivial floor: a flat score ranks nothing, so AP and IoU are the share of blurred pixels
    floor = [constant.evaluate_batch(collate([s]))[0] for s in detection_samples]
    assert [r["ap"] for r in floor] == pytest.approx(fractions, abs=1e-6)
    assert [r["iou"] for r in floor] == pytest.approx(fractions, abs=1e-6)
    aps = [laplacian.evaluate_batch(collate([s]))[0]["ap"] for s in detection_samples]
    assert np.mean(aps) > np.mean(fractions) + 0.1  # clearly better than the constant score
    net = FieldBlurDetection(field="blurfield-small", pretrained=False)  # random weights: runs, valid ranges
    rows = net.evaluate_batch(collate(detection_samples[:1]))
    assert set(rows[0]) <= {"ap", "iou", "f1"} and all(0 <= v <= 1 for v in rows[0].values())

    batch = {"id": ["sub/photo.jpg"], "blurry": detection_samples[0]["blurry"][None],
             "kernels": detection_samples[0]["kernels"][None], "mixing": detection_samples[0]["mixing"][None]}
    pred = oracle.predict_step(batch, 0)
    oracle.write_prediction(tmp_path, pred)
    mask_path, score_path = prediction_paths(tmp_path, "sub/photo.jpg")
    assert mask_path == tmp_path / "sub" / "photo_blurmask.png"
    mask = cv2.imread(str(mask_path), cv2.IMREAD_UNCHANGED)
    score = cv2.imread(str(score_path), cv2.IMREAD_UNCHANGED)
    assert mask.dtype == np.uint8 and score.dtype == np.uint16
    np.testing.assert_array_equal(mask > 127, detection_samples[0]["mask"][0].numpy() > 0.5)
    np.testing.assert_allclose(score / 65535, detection_samples[0]["mask"][0].numpy(), atol=1e-4)
