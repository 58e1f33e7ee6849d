import pytest
import torch
import torch.nn.functional as F

from faceauth.training.losses import ArcFaceLoss, ContrastiveLoss, TripletLoss, build_loss

LABELS = torch.tensor([0, 0, 1, 1])


def unit(*rows):
    return F.normalize(torch.tensor(rows, dtype=torch.float32), dim=1)


def test_contrastive_is_zero_when_genuine_coincide_and_impostors_lie_beyond_the_margin():
    separated = unit([1, 0], [1, 0], [0, 1], [0, 1])  # impostor cos 0 -> distance 1 >= margin 0.5
    assert ContrastiveLoss(0.5)(separated, LABELS) == 0
    # Margin 1.5 keeps acting on orthogonal impostors: the "active margin" the design asks for.
    assert ContrastiveLoss(1.5)(separated, LABELS) > 0


def test_contrastive_penalises_close_impostors():
    close = unit([1, 0], [1, 0], [1, 0.1], [1, 0.1])
    assert ContrastiveLoss(0.5)(close, LABELS) > 0.2


def test_triplet_batch_hard():
    separated = unit([1, 0], [1, 0], [-1, 0], [-1, 0])
    assert TripletLoss(0.2)(separated, LABELS) == 0
    mixed = unit([1, 0], [0, 1], [1, 0.05], [0, 1])
    assert TripletLoss(0.2)(mixed, LABELS) > 0.5


def test_arcface_loss_learns_to_separate():
    torch.manual_seed(0)
    embeddings = torch.nn.Parameter(torch.randn(4, 8))
    loss_fn = ArcFaceLoss(8, 2, margin=0.5, scale=16)
    optimizer = torch.optim.SGD([embeddings, *loss_fn.parameters()], lr=0.5)
    first = None
    for _ in range(50):
        loss = loss_fn(F.normalize(embeddings, dim=1), LABELS)
        first = first if first is not None else loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < first / 2


def test_build_loss_by_name():
    assert isinstance(build_loss("triplet", 0.3, 8, 2), TripletLoss)
    assert build_loss("contrastive", 0.7, 8, 2).margin == 0.7


def test_contrastive_by_hand_genuine_pairs_exclude_each_sample_with_itself():
    # Genuine pairs (0,1): cos .6, d .4 -> .16 (twice); (2,3): d 0 (twice); mean .08. Impostors: d 1 (four
    # entries, no cost) and d .2 (four entries, (.5 - .2)^2 = .09 each); mean .045.
    embeddings = unit([1, 0], [0.6, 0.8], [0, 1], [0, 1])
    assert float(ContrastiveLoss(0.5)(embeddings, LABELS)) == pytest.approx(0.125, abs=1e-6)


def test_arcface_margin_is_added_to_the_angle_of_the_true_class():
    # One embedding at 60 degrees from its class centre, 30 from the other; scale 1:
    # margin 0.5 -> logits [cos(pi/3 + .5), cos(pi/6)] -> CE 1.2005; margin 0 -> [.5, .866] -> CE .8929.
    def loss(margin):
        loss_fn = ArcFaceLoss(2, 2, margin=margin, scale=1.0)
        with torch.no_grad():
            loss_fn.centres.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
        with torch.no_grad():
            return float(loss_fn(unit([0.5, 3 ** 0.5 / 2]), torch.tensor([0])))

    assert loss(0.5) == pytest.approx(1.2005, abs=1e-3)
    assert loss(0.0) == pytest.approx(0.8929, abs=1e-3)


def test_build_loss_passes_the_arcface_scale_and_margin():
    arcface = build_loss("arcface", 0.3, 8, 5, scale=16.0)
    assert (arcface.scale, arcface.margin, tuple(arcface.centres.shape)) == (16.0, 0.3, (5, 8))
