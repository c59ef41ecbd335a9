"""MF-RIS physics against independent computations: the signal model, Lemma 1, the amplitude sets and budgets."""

import dataclasses

import numpy as np
import pytest
import scipy.linalg

from isac_gym.physics import mfris
from isac_gym.physics.mfris import MFRISConfiguration, MFRISParams

SMALL = dict(n_tx=4, n_elements_x=3, n_elements_z=2, n_sensing_vertical=2, n_sensing_horizontal=3, n_users=3,
             n_users_reflection=1, n_targets=3, n_targets_reflection=2)
VARIANTS = [dict(), dict(protocol="MS"), dict(protocol="TS"), dict(surface="active"), dict(surface="passive"),
            dict(surface="star")]


def _random_config(p: MFRISParams, rng, batch=()):
    beams = rng.standard_normal(batch + (p.n_tx, p.n_streams)) + 1j * rng.standard_normal(batch + (p.n_tx, p.n_streams))
    beams *= np.sqrt(p.p_bs_w / np.sum(np.abs(beams) ** 2, axis=(-2, -1), keepdims=True))
    beta = mfris.amplitudes_from_fractions(p, rng.uniform(size=batch + (p.n_elements,)),
                                           rng.uniform(size=batch + (p.n_elements,)))
    phase = rng.uniform(0, 2 * np.pi, batch + (2, p.n_elements))
    return MFRISConfiguration(beams, np.sqrt(beta) * np.exp(1j * phase))


def _side_sums(p, scen, s):
    """``H_s = sum_j alpha_j b_j a_j^H`` and the round trip ``sum_j alpha_j a_j^* a_j^H`` over side s's targets,
    target by target from the steering functions (eq. (14a))."""
    h = np.zeros((p.n_sensing, p.n_elements), complex)
    rt = np.zeros((p.n_elements, p.n_elements), complex)
    for j in np.flatnonzero(p.target_side == s):
        a = mfris.surface_steering(p, scen.target_dir[j])
        b = mfris.sensing_steering(p, scen.target_dir[j])
        h += scen.target_gain[j] * np.outer(b, np.conj(a))
        rt += scen.target_gain[j] * np.outer(np.conj(a), np.conj(a))  # receive a^*, transmit a^H
    return h, rt


def _dense_echo(p, scen, coef, beams):
    """A_s and B_s written out target by target and element by element (eqs. (14), (20)-(21))."""
    a_mats, b_mats = [], []
    for s in range(2):
        theta = np.diag(coef[s])
        h, rt = _side_sums(p, scen, s)
        if p.surface == "mf":
            sig = h @ theta @ scen.g @ beams
            noise = p.noise_ris_w * h @ theta @ np.conj(theta).T @ np.conj(h).T + p.noise_sensing_w * np.eye(p.n_sensing)
        else:
            sig = scen.g.T @ theta @ rt @ theta @ scen.g @ beams
            noise = (p.noise_ris_w * scen.g.T @ theta @ np.conj(theta).T @ np.conj(scen.g)
                     + p.noise_sensing_w * np.eye(p.n_tx))
        a_mats.append(sig @ np.conj(sig).T)
        b_mats.append(noise)
    return a_mats, b_mats


@pytest.mark.parametrize("reflecting", [0, 2, 3])
def test_scenario_target_sums_are_the_per_target_outer_products(reflecting):
    """H_s = sum_{j in J_s} alpha_j b_j a_j^H and the round trip sum alpha_j a_j^* a_j^H per side, target by
    target from the steering functions (a side without targets is zero); the draw leaves its LoS links intact."""
    p = MFRISParams(**(SMALL | {"n_targets_reflection": reflecting}))
    rng = np.random.default_rng(4)
    scen = mfris.draw_scenario(p, rng)
    for s in range(2):
        h, rt = _side_sums(p, scen, s)
        np.testing.assert_allclose(scen.sensing[s], h, rtol=1e-12, atol=1e-15 * np.abs(h).max(initial=1.0))
        np.testing.assert_allclose(scen.roundtrip[s], rt, rtol=1e-12, atol=1e-15 * np.abs(rt).max(initial=1.0))
    # the same generator state gives the same scenario: the cached LoS parts are not modified by a draw
    again = [mfris.draw_scenario(p, np.random.default_rng(9)) for _ in range(2)]
    for f in dataclasses.fields(again[0]):
        np.testing.assert_array_equal(getattr(again[0], f.name), getattr(again[1], f.name))


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "-".join(v.values()) or "ES")
def test_echo_sinr_is_the_generalised_eigenvalue_of_the_dense_model(variant):
    """Lemma 1: lambda_max(B^-1 A) from scipy's generalised eigensolver on dense A, B; the filter attains it."""
    p = MFRISParams(**SMALL, **variant)
    rng = np.random.default_rng(1)
    scen = mfris.draw_scenario(p, rng)
    cfg = _random_config(p, rng)
    sig, noise = mfris.echo_operators(p, scen, cfg.coefficients, cfg.beams)
    got = mfris.echo_sinr(sig, noise)
    u = mfris.echo_filter(sig, noise)
    a_mats, b_mats = _dense_echo(p, scen, cfg.coefficients, cfg.beams)
    for s in range(2):
        assert np.allclose(sig[s] @ np.conj(sig[s]).T, a_mats[s], rtol=1e-10, atol=1e-10 * np.abs(a_mats[s]).max())
        assert np.allclose(noise[s], b_mats[s], rtol=1e-12, atol=0)
        ref = scipy.linalg.eigh(a_mats[s], b_mats[s], eigvals_only=True)[-1]
        assert got[s] == pytest.approx(ref, rel=1e-9)
        quotient = np.real(np.conj(u[s]) @ a_mats[s] @ u[s]) / np.real(np.conj(u[s]) @ b_mats[s] @ u[s])
        assert quotient == pytest.approx(ref, rel=1e-9) and np.linalg.norm(u[s]) == pytest.approx(1.0)


def test_no_random_unit_filter_beats_lemma_1():
    p = MFRISParams(**SMALL)
    rng = np.random.default_rng(2)
    scen = mfris.draw_scenario(p, rng)
    cfg = _random_config(p, rng)
    sig, noise = mfris.echo_operators(p, scen, cfg.coefficients, cfg.beams)
    best = mfris.echo_sinr(sig, noise)
    a = sig @ np.conj(np.swapaxes(sig, -1, -2))
    u = rng.standard_normal((20000, 2, p.n_sensing)) + 1j * rng.standard_normal((20000, 2, p.n_sensing))
    u /= np.linalg.norm(u, axis=-1, keepdims=True)
    quot = (np.real(np.einsum("dsn,snm,dsm->ds", np.conj(u), a, u))
            / np.real(np.einsum("dsn,snm,dsm->ds", np.conj(u), noise, u)))
    assert np.all(quot <= best * (1 + 1e-12))
    assert np.all(quot.max(axis=0) > 0.5 * best)  # the search gets close: the bound is not vacuous


def test_echo_covariance_matches_a_monte_carlo_signal_model():
    """Sample y_s = H_s Theta_s (G x + n_R) + n_s (eqs. (10), (13)); its covariance is A_s + B_s."""
    p = MFRISParams(**SMALL)
    rng = np.random.default_rng(3)
    scen = mfris.draw_scenario(p, rng)
    cfg = _random_config(p, rng)
    sig, noise = mfris.echo_operators(p, scen, cfg.coefficients, cfg.beams)
    n = 200_000

    def cn(*shape):
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2)
    x = cfg.beams @ cn(p.n_streams, n)  # W [c; s], unit-power symbols
    for s in range(2):
        n_r = np.sqrt(p.noise_ris_w) * cn(p.n_elements, n)
        y = scen.sensing[s] @ (cfg.coefficients[s][:, None] * (scen.g @ x + n_r)) + np.sqrt(p.noise_sensing_w) * cn(
            p.n_sensing, n)
        emp = y @ np.conj(y).T / n
        ref = sig[s] @ np.conj(sig[s]).T + noise[s]
        assert np.abs(emp - ref).max() < 0.02 * np.abs(ref).max()


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "-".join(v.values()) or "ES")
def test_user_sinr_rate_and_powers_match_eq_9_written_out(variant):
    p = MFRISParams(**SMALL, **variant)
    rng = np.random.default_rng(4)
    scen = mfris.draw_scenario(p, rng)
    cfg = _random_config(p, rng)
    out = mfris.measure(p, scen, cfg)
    coef = out.effective
    for k in range(p.n_users):
        s = p.user_side[k]
        hbar = np.conj(scen.h[k]) @ np.diag(coef[s]) @ scen.g
        gains = np.abs(hbar @ cfg.beams) ** 2
        nu = p.noise_ris_w * np.sum(np.abs(np.conj(coef[s]) * scen.h[k]) ** 2) + p.noise_user_w
        ref = gains[k] / (gains.sum() - gains[k] + nu)
        assert out.sinr[k] == pytest.approx(ref, rel=1e-10)
        assert out.rate[k] == pytest.approx(p.slot_weights[s] * np.log2(1 + ref), rel=1e-10)
    for s in range(2):
        theta = np.diag(coef[s])
        ref = np.linalg.norm(theta @ scen.g @ cfg.beams) ** 2 + p.noise_ris_w * np.linalg.norm(theta) ** 2
        # amplifier output; a surface without amplifiers adds no power (it passes on the BS's)
        assert out.ris_power[s] == (pytest.approx(ref, rel=1e-10) if p.amplified else 0.0)
    assert out.objective == pytest.approx(np.sum(p.slot_weights * out.echo_sinr), rel=1e-12)
    assert out.bs_power == pytest.approx(np.linalg.norm(cfg.beams) ** 2)


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "-".join(v.values()) or "ES")
def test_amplitude_sets_hold_by_construction_and_every_point_is_reached(variant):
    p = MFRISParams(**SMALL, **variant)
    rng = np.random.default_rng(5)
    t, rho = rng.uniform(size=(2, 500, p.n_elements))
    beta = mfris.amplitudes_from_fractions(p, t, rho)
    assert np.all(mfris.amplitude_violation(p, np.sqrt(beta)) <= 1e-12)
    back = mfris.amplitudes_from_fractions(p, *mfris.fractions_from_amplitudes(p, beta))
    assert np.allclose(back, beta, rtol=1e-12, atol=1e-12 * p.beta_max)
    # out of the set: flagged
    bad = beta.copy()
    bad[:, :, 0] = p.beta_max * 1.5 if p.surface != "passive" else 1.5
    assert np.all(mfris.amplitude_violation(p, np.sqrt(bad)) > 0.1)


def test_protocol_sets_are_nested_and_ts_halves_the_slots():
    """MS is a subset of ES (every MS point satisfies ES); TS weights rates and echo by the slot fractions."""
    es, ms = MFRISParams(**SMALL), MFRISParams(**SMALL, protocol="MS")
    rng = np.random.default_rng(6)
    beta_ms = mfris.amplitudes_from_fractions(ms, *rng.uniform(size=(2, 100, es.n_elements)))
    assert np.all(mfris.amplitude_violation(es, np.sqrt(beta_ms)) == 0)
    ts = MFRISParams(**SMALL, protocol="TS", ts_fraction=0.3)
    assert np.allclose(ts.slot_weights, [0.3, 0.7])
    assert np.allclose(ts.sinr_min, np.exp2(1.0 / ts.slot_weights[ts.user_side]) - 1)


def test_amplifier_scaling_lands_on_the_budget():
    p = MFRISParams(**SMALL, ris_power_share=0.01, p_max_dbm=20.0, beta_max_db=60.0)
    rng = np.random.default_rng(7)
    scen = mfris.draw_scenario(p, rng)
    cfg = _random_config(p, rng)
    cfg = MFRISConfiguration(cfg.beams * 1e3, cfg.coefficients)  # far over the amplifier budget
    out = mfris.measure(p, scen, cfg)
    assert out.ris_requested > p.p_ris_w
    assert out.ris_power.sum() == pytest.approx(p.p_ris_w, rel=1e-12)
    assert np.allclose(np.abs(out.effective) ** 2, out.scale[:, None] * np.abs(cfg.coefficients) ** 2)
    ts = dataclasses.replace(p, protocol="TS")
    out = mfris.measure(ts, scen, cfg)
    assert np.allclose(out.ris_power, p.p_ris_w, rtol=1e-12)  # each slot on its own budget


def test_batched_measure_equals_one_by_one():
    p = MFRISParams(**SMALL, surface="active")
    rng = np.random.default_rng(8)
    scens = [mfris.draw_scenario(p, rng) for _ in range(3)]
    cfgs = [_random_config(p, rng) for _ in range(3)]
    from isac_gym.physics import batching
    out = mfris.measure(p, batching.stack(scens), batching.stack(cfgs))
    for i in range(3):
        one = mfris.measure(p, scens[i], cfgs[i])
        assert np.allclose(out.echo_sinr[i], one.echo_sinr, rtol=1e-12) and np.allclose(out.sinr[i], one.sinr)


def test_calibration_random_configuration_echo_sinr():
    """docs/mfris.md: at the defaults, random beams at full budget, random phases, an even ES split and the optimal
    filter give a summed echo SINR of order -10 dB (the reference's -11 dB; here about -6 dB in the mean of dB), far
    from the -45 dB of a geometry too weak to sense."""
    p = MFRISParams()
    rng = np.random.default_rng(9)
    vals = []
    for _ in range(30):
        scen = mfris.draw_scenario(p, rng)
        cfg = _random_config(p, rng)
        coef = np.sqrt(p.beta_max / 2) * np.exp(1j * rng.uniform(0, 2 * np.pi, (2, p.n_elements)))
        vals.append(mfris.measure(p, scen, MFRISConfiguration(cfg.beams, coef)).objective)
    mean_db = np.mean(10 * np.log10(vals))
    assert -15 < mean_db < -3, mean_db


def test_bad_parameters_name_the_field():
    with pytest.raises(ValueError, match="n_users_reflection"):
        MFRISParams(n_users=2, n_users_reflection=3)
    with pytest.raises(ValueError, match="protocol"):
        MFRISParams(surface="star", protocol="TS")
    with pytest.raises(ValueError, match="surface"):
        MFRISParams(surface="mirror")
    with pytest.raises(ValueError, match="ts_fraction"):
        MFRISParams(ts_fraction=1.0)


@pytest.mark.parametrize("targets", [(4, 2), (5, 3), (3, 1), (1, 1), (2, 0)], ids=lambda t: f"J{t[0]}-Jr{t[1]}")
def test_target_space_echo_sinr_equals_the_dense_form(targets):
    """The push-through form (J_s x J_s per side) against the Ns x Ns generalised eigenvalue, batched."""
    p = MFRISParams(n_targets=targets[0], n_targets_reflection=targets[1])
    rng = np.random.default_rng(10)
    from isac_gym.physics import batching
    scen = batching.stack([mfris.draw_scenario(p, rng) for _ in range(4)])
    cfg = _random_config(p, rng, (4,))
    fast = mfris.echo_sinr_target_space(p, scen, cfg.coefficients, scen.g @ cfg.beams)
    dense = mfris.echo_sinr(*mfris.echo_operators(p, scen, cfg.coefficients, cfg.beams))
    np.testing.assert_allclose(fast, dense, rtol=1e-9, atol=1e-12 * dense.max())
    assert np.all(dense > 0) == (min(targets[1], targets[0] - targets[1]) > 0)


def test_focusing_phases_add_every_element_in_phase_towards_a_lone_target():
    """With one target on a side, the focusing phases make ``a_j^H Theta_s G w_1`` the sum of the magnitudes of
    ``G w_1`` (every element in phase), ``w_1`` G's dominant right singular vector found by power iteration; no draw of
    random phases does better; batched rows equal single ones."""
    p = MFRISParams(**{**SMALL, "n_targets": 2, "n_targets_reflection": 1})
    rng = np.random.default_rng(4)
    scens = [mfris.draw_scenario(p, rng) for _ in range(3)]
    for scen in scens:
        w = np.ones(p.n_tx, complex)
        for _ in range(500):
            w = np.conj(scen.g.T) @ (scen.g @ w)
            w /= np.linalg.norm(w)
        gw = scen.g @ w
        theta = mfris.focusing_phases(p, scen)
        for s in range(2):
            a = mfris.surface_steering(p, scen.target_dir[np.flatnonzero(p.target_side == s)[0]])
            focused = abs(np.sum(np.conj(a) * np.exp(1j * theta[s]) * gw))
            assert focused == pytest.approx(np.abs(gw).sum(), rel=1e-9)
            rand = np.abs((np.conj(a) * np.exp(1j * rng.uniform(0, 2 * np.pi, (200, p.n_elements)))) @ gw)
            assert rand.max() < focused
    from isac_gym.physics import batching

    np.testing.assert_allclose(mfris.focusing_phases(p, batching.stack(scens))[1], mfris.focusing_phases(p, scens[1]))
