import torch
import torch.nn.functional as F

from faceauth.losses import ArcFaceLoss, ContrastiveLoss, TripletLoss, build_loss

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
