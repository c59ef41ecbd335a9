"""Shared building blocks against independent computations: beamformer encoding, precoders, steering
vectors in any plane, pad-and-mask batching, SDP helpers, the log score."""

import numpy as np
import pytest

from isac_gym.envs.base import LogScale, log_score
from isac_gym.oracles.sdp import extract_user_beams, psd_part
from isac_gym.physics import arrays, batching, beamforming


def test_beamformer_encoding_meets_the_budget_and_inverts():
    rng = np.random.default_rng(0)
    n_tx, s, p = 4, 3, 2.5
    for _ in range(20):
        a = rng.uniform(-1, 1, beamforming.beamformer_action_size(n_tx, s))
        w = beamforming.decode_beamformer(a, n_tx, s, p)
        assert np.sum(np.abs(w) ** 2) == pytest.approx((a[0] + 1) / 2 * p)
        again = beamforming.decode_beamformer(beamforming.encode_beamformer(w, p), n_tx, s, p)
        assert np.allclose(again, w, atol=1e-12)
    corner = beamforming.decode_beamformer(np.ones(beamforming.beamformer_action_size(n_tx, s)), n_tx, s, p)
    assert np.sum(np.abs(corner) ** 2) == pytest.approx(p)
    assert np.all(beamforming.decode_beamformer(np.r_[1.0, np.zeros(2 * n_tx * s)], n_tx, s, p) == 0)


def test_centred_beamformer_encoding_reaches_every_beam_and_starts_at_the_centre():
    rng = np.random.default_rng(3)
    n_tx, s, p = 4, 3, 2.5
    centre = beamforming.antenna_centre(n_tx, beamforming.spread_antennas(n_tx, s))
    assert np.count_nonzero(centre) == s and np.abs(centre).max() == 0.5
    zero = beamforming.decode_beamformer(np.zeros(1 + 2 * n_tx * s), n_tx, s, p, centre)
    np.testing.assert_allclose(zero, np.sqrt(p / 2) * centre / np.linalg.norm(centre), atol=1e-15)
    for _ in range(20):
        # any beamformer within the budget: its encoding lies in the box and decodes back to it
        w = rng.standard_normal((n_tx, s)) + 1j * rng.standard_normal((n_tx, s))
        w *= np.sqrt(rng.uniform(0, p)) / np.linalg.norm(w)
        a = beamforming.encode_beamformer(w, p, centre)
        assert np.all(np.abs(a) <= 1.0)
        np.testing.assert_allclose(beamforming.decode_beamformer(a, n_tx, s, p, centre), w, atol=1e-12)
        # the decoding written out: A = C + Re + j Im, W = sqrt(s P) A / ||A||
        x = rng.uniform(-1, 1, 1 + 2 * n_tx * s)
        mat = centre + x[1: 1 + n_tx * s].reshape(n_tx, s) + 1j * x[1 + n_tx * s:].reshape(n_tx, s)
        expected = np.sqrt((x[0] + 1) / 2 * p) * mat / np.linalg.norm(mat)
        np.testing.assert_allclose(beamforming.decode_beamformer(x, n_tx, s, p, centre), expected, atol=1e-12)
    with pytest.raises(ValueError, match="centre"):
        beamforming.decode_beamformer(np.zeros(1 + 2 * n_tx * s), n_tx, s, p, np.ones((n_tx, s)))


def test_zf_nulls_interference_and_scaling_never_raises_power():
    rng = np.random.default_rng(1)
    h = rng.standard_normal((3, 6)) + 1j * rng.standard_normal((3, 6))
    w = beamforming.zf_directions(h)
    assert np.allclose(np.conj(h) @ w, np.eye(3), atol=1e-10)
    assert np.allclose(beamforming.mrt_directions(h), h.T)
    big = 10 * w
    scaled = beamforming.scale_onto_budget(big, 1.0)
    assert np.sum(np.abs(scaled) ** 2) == pytest.approx(1.0)
    small = 1e-3 * w
    assert np.array_equal(beamforming.scale_onto_budget(small, 1.0), small)


@pytest.mark.parametrize("plane, cosines", [("xz", arrays.direction_cosines), ("yz", arrays.azimuth_elevation_cosines)])
def test_upa_steering_derivatives_match_finite_differences(plane, cosines):
    lam = 0.01
    pos = arrays.upa_positions(4, 3, lam / 2, lam / 2, plane=plane, centred=True)
    a1, a2 = 0.7, 0.3
    s = arrays.steering_set(pos, cosines(a1, a2), lam)
    h = 1e-7

    def a(b1, b2):
        return arrays.steering_set(pos, cosines(b1, b2), lam)[0]

    d1 = (a(a1 + h, a2) - a(a1 - h, a2)) / (2 * h)
    d2 = (a(a1, a2 + h) - a(a1, a2 - h)) / (2 * h)
    assert np.allclose(s[1], d1, rtol=1e-6, atol=1e-6) and np.allclose(s[2], d2, rtol=1e-6, atol=1e-6)
    assert np.allclose(np.abs(s[0]), 1.0)
    assert np.allclose(pos.mean(axis=1), 0.0)
    assert np.all(pos[0 if plane == "yz" else 1] == 0.0)  # the plane's normal coordinate


def test_ula_matches_its_closed_form_and_derivative():
    ang = 0.4
    assert np.allclose(arrays.ula(5, ang), np.exp(1j * np.pi * np.arange(5) * np.sin(ang)))
    h = 1e-7
    fd = (arrays.ula(5, ang + h) - arrays.ula(5, ang - h)) / (2 * h)
    assert np.allclose(arrays.ula_derivative(5, ang), fd, atol=1e-6)


def test_pad_and_mask():
    items = [np.arange(3.0), np.arange(1.0), np.arange(5.0)]
    padded, mask = batching.pad_stack(items, fill=np.nan)
    assert padded.shape == (3, 5) and mask.sum() == 9
    assert np.allclose(batching.masked_sum(padded, mask), [3.0, 0.0, 10.0])
    assert np.allclose(batching.masked_max(padded, mask), [2.0, 0.0, 4.0])
    assert np.allclose(batching.masked_min(padded, mask), [0.0, 0.0, 0.0])
    vec, vmask = batching.pad_stack([np.ones((2, 3)), np.ones((4, 3))])
    assert vec.shape == (2, 4, 3) and np.allclose(batching.masked_sum(vec, vmask, axis=1), [[2] * 3, [4] * 3])


def test_rank_one_extraction_preserves_every_sinr():
    rng = np.random.default_rng(2)
    k, n = 3, 5
    h = rng.standard_normal((k, n)) + 1j * rng.standard_normal((k, n))
    vs = [rng.standard_normal(n) + 1j * rng.standard_normal(n) for _ in range(k)]
    rk = np.stack([np.outer(v, v.conj()) for v in vs])  # rank-one user covariances
    sense = psd_part(rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n)))
    total = rk.sum(axis=0) + sense
    w = extract_user_beams(h, rk, total, n)
    assert np.allclose(w @ w.conj().T, total, atol=1e-9)

    def sinr_of_covariances():
        out = []
        for i in range(k):
            sig = np.real(h[i].conj() @ rk[i] @ h[i])
            out.append(sig / (np.real(h[i].conj() @ total @ h[i]) - sig + 1.0))
        return np.array(out)

    gains = np.abs(np.conj(h) @ w) ** 2
    sig = np.diag(gains[:, :k])
    assert np.allclose(sig / (gains.sum(axis=1) - sig + 1.0), sinr_of_covariances())


def test_log_score_orientation():
    assert log_score(np.array(1.0), np.array(1.0), np.array(0.1)) == pytest.approx(0.0)
    assert log_score(np.array(0.1), np.array(1.0), np.array(0.1)) == pytest.approx(1.0)
    # maximised: 0 at worst, 1 at target, higher is better
    assert log_score(np.array(10.0), np.array(1.0), np.array(10.0), maximise=True) == pytest.approx(1.0)
    assert log_score(np.array(100.0), np.array(1.0), np.array(10.0), maximise=True) == pytest.approx(2.0)
    assert log_score(np.array(1e-9), np.array(1.0), np.array(10.0), maximise=True) == -1.0


def test_log_scale_is_the_formula_per_scenario_and_slices_like_a_references_field():
    rng = np.random.default_rng(3)
    worst = 10.0 ** rng.uniform(-3, 3, 6)
    target = worst * 10.0 ** rng.uniform(-4, 0.1, 6)  # some spans below log 2 (the floor applies)
    target[0] = worst[0]  # no span at all
    value = worst * 10.0 ** rng.uniform(-5, 2, 6)
    span = np.maximum(np.log(worst) - np.log(target), np.log(2.0))
    raw = (np.log(worst) - np.log(value)) / span
    expected = np.maximum(raw, -1.0)
    scale = LogScale.of(worst, target)
    assert np.allclose(scale.score(value), expected, rtol=1e-12, atol=1e-12)
    up = LogScale.of(1.0 / worst, 1.0 / target, maximise=True)  # maximising 1/x scores like minimising x
    assert np.allclose(up.score(1.0 / value), expected, rtol=1e-12, atol=1e-12)
    assert np.allclose(scale.score(value, floor=-3.0), np.maximum(raw, -3.0), rtol=1e-12, atol=1e-12)
    assert np.isfinite(scale.score(np.zeros(6))).all()  # a zero metric stays finite
    assert np.all(up.score(np.zeros(6)) == -1.0)  # a maximised one at zero sits on the floor
    row = batching.take(scale, slice(2, 4))
    assert np.allclose(row.score(value[2:4]), expected[2:4], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [float, complex])
def test_squared_norm_matches_the_sum_of_squared_moduli(dtype):
    rng = np.random.default_rng(3)
    v = rng.standard_normal((4, 5, 7)).astype(dtype)
    if dtype is complex:
        v += 1j * rng.standard_normal(v.shape)
    for axis in (-1, -2, (-2, -1)):
        got = arrays.squared_norm(v, axis)
        assert got.dtype == np.float64
        np.testing.assert_allclose(got, np.sum(np.abs(v) ** 2, axis=axis), rtol=1e-13)
    # a strided view (the real part of a complex array) and a zero vector
    np.testing.assert_allclose(arrays.squared_norm(v.real[:, ::2]), np.sum(v.real[:, ::2] ** 2, axis=-1), rtol=1e-13)
    assert arrays.squared_norm(np.zeros((2, 3), dtype)).tolist() == [0.0, 0.0]
    # many short vectors (the einsum form), contiguous and strided along the axis, and a Frobenius norm of them
    many = rng.standard_normal((600, 3, 12)).astype(dtype)
    if dtype is complex:
        many += 1j * rng.standard_normal(many.shape)
    for w in (many, many[..., ::2], many[:, :, :1]):
        np.testing.assert_allclose(arrays.squared_norm(w), np.sum(np.abs(w) ** 2, axis=-1), rtol=1e-13)
    np.testing.assert_allclose(arrays.squared_norm(many[:, :, :4], (-2, -1)),
                               np.sum(np.abs(many[:, :, :4]) ** 2, axis=(-2, -1)), rtol=1e-13)
    with pytest.raises(ValueError, match="axis"):
        arrays.squared_norm(v, 0)
