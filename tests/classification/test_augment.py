"""course_utils.classification.augment: exact D4 + shift, batch augmentation, torchvision presets, registry."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_utils.classification import augment
from course_utils.classification.data import encode_maps

# Independent reference for each D4 element, in the order of augment.D4_ELEMENTS.
REFERENCE = [
    lambda t: t,
    lambda t: t.flip(-2),
    lambda t: t.flip(-1),
    lambda t: torch.rot90(t, 2, (-2, -1)),
    lambda t: t.transpose(-2, -1),
    lambda t: torch.rot90(t, 1, (-2, -1)),
    lambda t: torch.rot90(t, -1, (-2, -1)),
    lambda t: torch.rot90(t, 2, (-2, -1)).transpose(-2, -1),
]


def random_maps(n=4, size=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 3, (n, size, size), generator=g, dtype=torch.uint8)


def shifted_reference(x, dy, dx, fill):
    """Shift (C, H, W) by padding with ``fill`` and cropping: independent of the gather."""
    c, h, w = x.shape
    pad = max(abs(dy), abs(dx))
    canvas = torch.stack([F.pad(x[i:i + 1].float(), (pad,) * 4, value=float(fill[i]))[0] for i in range(c)])
    return canvas[:, pad - dy:pad - dy + h, pad - dx:pad - dx + w].to(x.dtype)


@pytest.mark.parametrize("element", range(8))
def test_d4_elements_match_torch_ops(element):
    maps = random_maps()
    onehot = encode_maps(maps, "onehot")
    assert augment.D4_ELEMENTS[5] == "rot90"
    out = augment.d4_transform(onehot, element)
    assert out.dtype == torch.float32 and out.shape == onehot.shape
    assert torch.equal(out, REFERENCE[element](onehot))
    out_maps = augment.d4_transform(maps, torch.full((4,), element))
    assert out_maps.dtype == torch.uint8 and torch.equal(out_maps, REFERENCE[element](maps))


def test_orbit_is_8_distinct_exact_maps_and_a_group():
    m = random_maps(1, 9)[0]
    orbit = augment.d4_orbit(m)
    assert orbit.shape == (8, 9, 9)
    assert len({o.numpy().tobytes() for o in orbit}) == 8
    assert set(torch.unique(orbit).tolist()) <= {0, 1, 2}
    # closed under composition: applying any element to the orbit gives the orbit again
    orbit_set = {o.numpy().tobytes() for o in orbit}
    for e in range(8):
        assert {o.numpy().tobytes() for o in augment.d4_transform(orbit, e)} == orbit_set
    # every element has an inverse in the group
    for e in range(8):
        once = augment.d4_transform(m[None], e)
        assert any(torch.equal(augment.d4_transform(once, f)[0], m) for f in range(8))


@pytest.mark.parametrize("encoding,fill", [("onehot", (1.0, 0.0, 0.0)), ("single", (0.0,))])
def test_shift_moves_content_and_fills_off_wafer(encoding, fill):
    maps = random_maps(3, 10, seed=1)
    x = encode_maps(maps, encoding)
    shifts = torch.tensor([[2, -1], [-3, 0], [0, 4]])
    out = augment.d4_transform(x, torch.zeros(3, dtype=torch.long), shifts)
    for i, (dy, dx) in enumerate(shifts.tolist()):
        assert torch.equal(out[i], shifted_reference(x[i], dy, dx, fill))
    assert augment.invalid_state_fraction(out, encoding) == 0.0
    # state maps: uncovered pixels are 0 (off-wafer)
    moved = augment.d4_transform(maps, 0, (1, 1))
    assert (moved[:, 0, :] == 0).all() and (moved[:, :, 0] == 0).all()
    assert torch.equal(moved[:, 1:, 1:], maps[:, :-1, :-1])


def test_shift_applies_after_the_d4_element():
    m = random_maps(1, 8, seed=2)
    out = augment.d4_transform(m, 5, (0, 2))
    expected = shifted_reference(torch.rot90(m, 1, (-2, -1)), 0, 2, (0,))
    assert torch.equal(out, expected)


def test_batch_augment_draws_per_sample_and_is_seeded():
    m = random_maps(1, 8, seed=3)[0]
    orbit = [o.numpy().tobytes() for o in augment.d4_orbit(encode_maps(m, "onehot"))]
    batch = encode_maps(m, "onehot").unsqueeze(0).repeat(64, 1, 1, 1)
    out = augment.BatchAugment(seed=0)(batch)
    assert out.shape == batch.shape and out.dtype == batch.dtype
    which = [orbit.index(o.numpy().tobytes()) for o in out]  # every output is an orbit element
    assert len(set(which)) == 8                             # and they differ per sample
    torch.manual_seed(123)  # the private generator ignores the global seed
    again = augment.BatchAugment(seed=0)(batch)
    assert torch.equal(out, again)
    assert not torch.equal(out, augment.BatchAugment(seed=1)(batch))
    # a second call draws new elements
    aug = augment.BatchAugment(seed=0)
    assert not torch.equal(aug(batch), aug(batch))


def test_batch_augment_with_shift_stays_exact_and_state_maps_work():
    maps = random_maps(32, 12, seed=4)
    x = encode_maps(maps, "onehot")
    out = augment.BatchAugment(max_shift=3, seed=0)(x)
    assert augment.invalid_state_fraction(out, "onehot") == 0.0
    element, shift = augment.BatchAugment(max_shift=3, seed=0).sample_params(32)
    assert shift.abs().max() <= 3 and torch.equal(out, augment.d4_transform(x, element, shift))
    out_maps = augment.BatchAugment(max_shift=2, seed=0)(maps)
    assert out_maps.dtype == torch.uint8 and set(torch.unique(out_maps).tolist()) <= {0, 1, 2}
    assert augment.BatchAugment(d4=False)(x) is x  # nothing to do


def test_random_d4_per_sample_preset():
    m = random_maps(1, 8, seed=5)[0]
    t = augment.get_transform("wafer_d4", seed=0)
    assert isinstance(t, augment.RandomD4)
    orbit = {o.numpy().tobytes() for o in augment.d4_orbit(m)}
    outs = {t(m).numpy().tobytes() for _ in range(40)}
    assert outs <= orbit and len(outs) > 4
    sample = encode_maps(m, "onehot")
    assert augment.wafer_d4_transform(max_shift=2, seed=0)(sample).shape == (3, 8, 8)
    with pytest.raises(ValueError, match="one sample"):
        t(sample.unsqueeze(0))


def test_course_transform_fill_meaning():
    maps = torch.ones(1, 16, 16, dtype=torch.uint8)  # a wafer that fills the grid
    x = encode_maps(maps, "onehot")[0]
    torch.manual_seed(0)
    course = augment.get_transform("course224", size=32)
    outs = torch.stack([course(x) for _ in range(8)])
    assert outs.shape == (8, 3, 32, 32)
    # fill=1 paints uncovered corners with 1 in all channels: not a valid one-hot state
    all_ones = (outs == 1).all(dim=1)
    assert all_ones.any()
    exact = augment.get_transform("course224_exact", size=32)
    outs = torch.stack([exact(x) for _ in range(8)])
    assert augment.invalid_state_fraction(outs, "onehot") == 0.0
    corner_off = outs[:, 0] == 1  # off-wafer channel set where the corners were uncovered
    assert corner_off.any()
    assert augment.off_wafer_fill("single") == 0.0 and augment.off_wafer_fill("onehot") == [1.0, 0.0, 0.0]


def test_bilinear_resize_creates_invalid_states_nearest_does_not():
    maps = random_maps(2, 16, seed=6)
    single = encode_maps(maps, "single")
    bilinear = augment.course_transform(40, fill="off_wafer", encoding="single")(single)
    nearest = augment.course_transform(40, fill="off_wafer", encoding="single", interpolation="nearest")(single)
    assert augment.invalid_state_fraction(bilinear, "single") > 0.1
    assert augment.invalid_state_fraction(nearest, "single") == 0.0


def test_per_sample_wrapper_and_photometric():
    torch.manual_seed(0)
    x = encode_maps(random_maps(6, 16, seed=7), "onehot")
    out = augment.PerSample(augment.course_transform(24, fill="off_wafer"))(x)
    assert out.shape == (6, 3, 24, 24)
    photo = augment.get_transform("photometric")(x[0])
    assert photo.shape == x[0].shape and 0 <= photo.min() and photo.max() <= 1
    assert augment.invalid_state_fraction(photo, "onehot") > 0.5
    with pytest.raises(TypeError, match="callable"):
        augment.PerSample(3)


def test_invalid_state_fraction_counts():
    x = torch.tensor([[0.0, 1.0], [2.0, 1.5]])
    assert augment.invalid_state_fraction(x, "state") == pytest.approx(0.25)
    onehot = torch.zeros(3, 1, 4)
    onehot[0, 0, 0] = 1
    onehot[1, 0, 1] = 1
    onehot[:, 0, 2] = 1          # all three set
    onehot[2, 0, 3] = 0.5        # soft value
    assert augment.invalid_state_fraction(onehot, "onehot") == pytest.approx(0.5)
    with pytest.raises(ValueError, match="encoding"):
        augment.invalid_state_fraction(x, "rgb")


def test_registry_and_bad_input():
    names = augment.available_transforms()
    assert {"course224", "wafer_d4", "batch_d4", "photometric"} <= set(names)
    with pytest.raises(ValueError, match=r"Unknown transform preset 'rot'; valid names: course224, .*wafer_d4"):
        augment.get_transform("rot")
    with pytest.raises(TypeError, match="preset name"):
        augment.get_transform(3)
    with pytest.raises(TypeError, match=r"get_transform\('batch_d4'"):
        augment.get_transform("batch_d4", angle=3)
    assert isinstance(augment.get_transform("Batch_D4_Shift"), augment.BatchAugment)
    with pytest.raises(ValueError, match="square"):
        augment.d4_transform(torch.zeros(2, 3, 8, 6), 4)
    assert augment.d4_transform(torch.zeros(2, 3, 8, 6), 3).shape == (2, 3, 8, 6)  # flips are fine
    with pytest.raises(ValueError, match="0..7"):
        augment.d4_transform(torch.zeros(2, 8, 8), 8)
    with pytest.raises(ValueError, match="one per sample"):
        augment.d4_transform(torch.zeros(2, 8, 8), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"batch.*unsqueeze"):
        augment.BatchAugment()(torch.zeros(8, 8))
    with pytest.raises(TypeError, match="torch.Tensor"):
        augment.BatchAugment()(np.zeros((2, 8, 8)))
    with pytest.raises(ValueError, match="max_shift"):
        augment.BatchAugment(max_shift=-1)
    with pytest.raises(ValueError, match="fill"):
        augment.BatchAugment(max_shift=1)(torch.zeros(2, 2, 8, 8))
    with pytest.raises(ValueError, match=r"needs an image tensor \(C, H, W\)"):
        augment.course_transform(32)(torch.zeros(8, 8))
    with pytest.raises(ValueError, match="size"):
        augment.course_transform(3)
    with pytest.raises(ValueError, match="off_wafer"):
        augment.course_transform(fill="black")
