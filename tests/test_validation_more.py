"""One test per bad parameter of the public functions outside the core, each asserting its message.

The core (network / ops / lazy) is in test_validation.py and the CLI in test_cli.py; the bad parameters that
the per-module test files already check (e.g. ``pgd(norm="l1")``, ``fit_exponent`` with too few x) are not
repeated here. Also: attacks and the fast path give finite answers on a zero gradient, an all-inactive
layer and d = 1.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import boundcheck as bc
from boundcheck import attacks as A
from boundcheck import checks as C
from boundcheck import fastpath as F
from boundcheck import montecarlo as M
from boundcheck import robust_lazy as R
from boundcheck import separability as S
from boundcheck import train as T
from boundcheck import worst_cases as WC

NET = bc.init_network(3, 4, 2, parametrization="theory", rng=0)          # K=2, m=4, d=3, no biases
NET1 = bc.init_network(3, 4, 1, parametrization="theory", rng=0)         # one init, for the trainers
X = bc.sample_sphere(5, 3, rng=1)
Y = np.array([1.0, -1.0, 1.0, -1.0, 1.0])
Y01 = (Y + 1) / 2                                                        # labels in {0, 1}: refused
W = NET.W0 + 0.1
D = np.ones((5, 3))
MC = S.init_multiclass_network(3, 4, 3, rng=0)                           # C=3 classes
YC = np.array([0, 1, 2, 0, 1])


def with_value(arr, index, value):
    out = np.array(arr, dtype=float)
    out[index] = value
    return out


NAN_X, INF_X = with_value(X, (0, 0), np.nan), with_value(X, (1, 2), -np.inf)
NAN_W = with_value(W, (0, 1, 2), np.nan)
NAN_Y = with_value(Y, 1, np.nan)

FINITE = "must contain only finite values (found NaN or inf)"
RNG_TYPE = "rng must be None, an int seed, a SeedSequence or a numpy Generator, got"
NORMS = "norm must be one of 'l2', 'linf', got 'l3'"
Y_PM = "y must contain only the labels -1 and +1, found"
Y_SHAPE = "y must have shape (n,) = (5,) to match X, got"
X_DIM = "X must have shape (n, d) with d = 3 (the network's input dimension), got (5, 4)"
W_SHAPE = "W must have the shape of the network's W0, (K, m, d) = (2, 4, 3), got (2, 3, 3)"


def case(label, call, exc, message):
    """A bad call, the exception it must raise and a substring of its message."""
    return pytest.param(call, exc, message, id=label)


def check(call, exc, message):
    with pytest.raises(exc, match=re.escape(message)):
        call()


# ------------------------------------------------------------------------------------------ attacks.py
# Already in test_attacks.py: min_flip_step direction shape / method / y labels / grid_step=0 /
# max_steps=0 / authors_convention; project_l2 eps<0 and broadcast; project_box low>high; pgd eps<0,
# norm="l1", step_size shape, y labels; robust_error output.

ATTACKS = [
    case("min_flip_step net str", lambda: A.min_flip_step("net", X), TypeError,
         "net must be a boundcheck.Network, got str"),
    case("min_flip_step X NaN", lambda: A.min_flip_step(NET, NAN_X), ValueError, "X " + FINITE),
    case("min_flip_step X inf", lambda: A.min_flip_step(NET, INF_X), ValueError, "X " + FINITE),
    case("min_flip_step X 1-D", lambda: A.min_flip_step(NET, X[0]), ValueError,
         "X must be a 2-D array of shape (n, 3), got shape (3,); for one point use X[None, :]"),
    case("min_flip_step X wrong d", lambda: A.min_flip_step(NET, np.ones((5, 4))), ValueError, X_DIM),
    case("min_flip_step W NaN", lambda: A.min_flip_step(NET, X, NAN_W), ValueError, "W " + FINITE),
    case("min_flip_step W shape", lambda: A.min_flip_step(NET, X, W[:, :3]), ValueError, W_SHAPE),
    case("min_flip_step direction NaN", lambda: A.min_flip_step(NET, X, direction=NAN_X), ValueError,
         "direction " + FINITE),
    case("min_flip_step grid_step NaN", lambda: A.min_flip_step(NET, X, method="grid", grid_step=np.nan),
         ValueError, "grid_step must be finite, got nan"),
    case("min_flip_step max_steps float", lambda: A.min_flip_step(NET, X, method="grid", max_steps=2.5),
         TypeError, "max_steps must be an integer, got 2.5 of type float"),
    case("min_flip_step y NaN", lambda: A.min_flip_step(NET, X, y=NAN_Y), ValueError, "y " + FINITE),
    case("min_flip_step batch 0", lambda: A.min_flip_step(NET, X, batch=0), ValueError,
         "batch must be >= 1, got 0"),
    case("fgm eps<0", lambda: A.fgm(NET, X, Y, -0.1), ValueError, "eps must be >= 0.0, got -0.1"),
    case("fgm eps NaN", lambda: A.fgm(NET, X, Y, np.nan), ValueError, "eps must be finite, got nan"),
    case("fgm eps str", lambda: A.fgm(NET, X, Y, "0.1"), TypeError,
         "eps must be a real number, got '0.1' of type str"),
    case("fgm X NaN", lambda: A.fgm(NET, NAN_X, Y, 0.1), ValueError, "X " + FINITE),
    case("fgm y shape", lambda: A.fgm(NET, X, Y[:3], 0.1), ValueError, Y_SHAPE + " (3,)"),
    case("fgm y 0/1", lambda: A.fgm(NET, X, Y01, 0.1), ValueError, Y_PM),
    case("fgm y NaN", lambda: A.fgm(NET, X, NAN_Y, 0.1), ValueError, "y " + FINITE),
    case("fgm W NaN", lambda: A.fgm(NET, X, Y, 0.1, NAN_W), ValueError, "W " + FINITE),
    case("fgm batch 0", lambda: A.fgm(NET, X, Y, 0.1, batch=0), ValueError, "batch must be >= 1, got 0"),
    case("fgsm eps<0", lambda: A.fgsm(NET, X, Y, -0.1), ValueError, "eps must be >= 0.0, got -0.1"),
    case("fgsm eps inf", lambda: A.fgsm(NET, X, Y, np.inf), ValueError, "eps must be finite, got inf"),
    case("fgsm X inf", lambda: A.fgsm(NET, INF_X, Y, 0.1), ValueError, "X " + FINITE),
    case("fgsm y shape", lambda: A.fgsm(NET, X, Y[:3], 0.1), ValueError, Y_SHAPE + " (3,)"),
    case("fgsm y 0/1", lambda: A.fgsm(NET, X, Y01, 0.1), ValueError, Y_PM),
    case("pgd steps<0", lambda: A.pgd(NET, X, Y, 0.1, steps=-1), ValueError, "steps must be >= 0, got -1"),
    case("pgd steps float", lambda: A.pgd(NET, X, Y, 0.1, steps=2.0), TypeError,
         "steps must be an integer, got 2.0 of type float"),
    case("pgd eps NaN", lambda: A.pgd(NET, X, Y, np.nan), ValueError, "eps " + FINITE),
    case("pgd step_size<0", lambda: A.pgd(NET, X, Y, 0.1, step_size=-1.0), ValueError, "step_size must be >= 0"),
    case("pgd step_size NaN", lambda: A.pgd(NET, X, Y, 0.1, step_size=np.nan), ValueError,
         "step_size " + FINITE),
    case("pgd X NaN", lambda: A.pgd(NET, NAN_X, Y, 0.1), ValueError, "X " + FINITE),
    case("pgd box low>high", lambda: A.pgd(NET, X, Y, 0.1, box=(1.0, 0.0)), ValueError,
         "box must satisfy low <= high in every coordinate"),
    case("pgd box NaN", lambda: A.pgd(NET, X, Y, 0.1, box=(np.nan, 1.0)), ValueError, "box[0] " + FINITE),
    case("pgd box triple", lambda: A.pgd(NET, X, Y, 0.1, box=(0.0, 0.5, 1.0)), TypeError,
         "box must be None or a pair (low, high), got (0.0, 0.5, 1.0)"),
    case("pgd random_start int", lambda: A.pgd(NET, X, Y, 0.1, random_start=1), TypeError,
         "random_start must be a bool, got 1"),
    case("pgd rng str with random_start", lambda: A.pgd(NET, X, Y, 0.1, random_start=True, rng="a"), TypeError,
         RNG_TYPE + " str"),
    case("pgd rng str without random_start", lambda: A.pgd(NET, X, Y, 0.1, rng="a"), TypeError,
           RNG_TYPE + " str"),
    case("pgd norm l3", lambda: A.pgd(NET, X, Y, 0.1, norm="l3"), ValueError, NORMS),
    case("pgd W NaN", lambda: A.pgd(NET, X, Y, 0.1, W=NAN_W), ValueError, "W " + FINITE),
    case("pgd batch 0", lambda: A.pgd(NET, X, Y, 0.1, batch=0), ValueError, "batch must be >= 1, got 0"),
    case("robust_error eps<0", lambda: A.robust_error(NET, X, Y, -0.1), ValueError, "eps must be >= 0, got"),
    case("robust_error norm l3", lambda: A.robust_error(NET, X, Y, 0.1, norm="l3"), ValueError, NORMS),
    case("robust_error unknown option", lambda: A.robust_error(NET, X, Y, 0.1, bogus=1), TypeError,
         "unexpected keyword argument 'bogus'"),
    case("robust_error y shape", lambda: A.robust_error(NET, X, Y[:2], 0.1), ValueError, Y_SHAPE + " (2,)"),
    case("project_l2 delta NaN", lambda: A.project_l2(NAN_X, 1.0), ValueError, "delta " + FINITE),
    case("project_l2 eps NaN", lambda: A.project_l2(D, np.nan), ValueError, "eps " + FINITE),
    case("project_l2 delta str", lambda: A.project_l2(D.astype(str), 1.0), TypeError,
         "delta must be an array of real numbers, got dtype <U"),
    case("project_l2 delta 0-d", lambda: A.project_l2(1.0, 1.0), ValueError,
         "delta must have at least one dimension (..., d)"),
    case("project_linf eps<0", lambda: A.project_linf(D, -1.0), ValueError, "eps must be >= 0"),
    case("project_linf delta inf", lambda: A.project_linf(INF_X, 1.0), ValueError, "delta " + FINITE),
    case("project_linf eps shape", lambda: A.project_linf(D, np.ones(7)), ValueError,
         "eps of shape (7,) does not broadcast against the leading shape (5,) of delta"),
    case("project_box x NaN", lambda: A.project_box(NAN_X, 0.0, 1.0), ValueError, "x_plus_delta " + FINITE),
    case("project_box low NaN", lambda: A.project_box(D, np.nan, 1.0), ValueError, "low " + FINITE),
    case("project_box high inf", lambda: A.project_box(D, 0.0, np.inf), ValueError, "high " + FINITE),
    case("project_box low shape", lambda: A.project_box(D, np.zeros(7), 1.0), ValueError,
         "low and high must broadcast against x_plus_delta"),
]


@pytest.mark.parametrize("call, exc, message", ATTACKS)
def test_attacks_reject(call, exc, message):
    check(call, exc, message)


# ----------------------------------------------------------------------------------------- fastpath.py
# Already in test_fastpath.py: m = 0, radius < 0.

FASTPATH = [
    case("n=0", lambda: F.sample_at_init(0, 5, 7), ValueError, "n must be >= 1, got 0"),
    case("n str", lambda: F.sample_at_init("10", 5, 7), TypeError, "n must be an integer, got '10' of type str"),
    case("d=0", lambda: F.sample_at_init(10, 0, 7), ValueError, "d must be >= 1, got 0"),
    case("d float", lambda: F.sample_at_init(10, 5.0, 7), TypeError, "d must be an integer, got 5.0 of type float"),
    case("m bool", lambda: F.sample_at_init(10, 5, True), TypeError, "m must be an integer, got True of type bool"),
    case("radius NaN", lambda: F.sample_at_init(10, 5, 7, radius=np.nan), ValueError, "radius must be finite, got nan"),
    case("radius inf", lambda: F.sample_at_init(10, 5, 7, radius=np.inf), ValueError, "radius must be finite, got inf"),
    case("rng negative", lambda: F.sample_at_init(10, 5, 7, rng=-1), ValueError,
         "rng seed must be a non-negative integer, got -1"),
    case("rng str", lambda: F.sample_at_init(10, 5, 7, rng="a"), TypeError, RNG_TYPE + " str"),
    case("batch 0", lambda: F.sample_at_init(10, 5, 7, batch=0), ValueError, "batch must be >= 1, got 0"),
]


@pytest.mark.parametrize("call, exc, message", FASTPATH)
def test_fastpath_rejects(call, exc, message):
    check(call, exc, message)


# -------------------------------------------------------------------------------------- worst_cases.py
# Already in test_worst_cases.py: biases, odd a, zero X, off-sphere X, d = 1, r > 1, r < 0, radius < 0,
# steps < 0, n_directions float, X shape, net type (grad_norm_lower).

WORST_CASES = [
    case("grad_norm_lower X NaN", lambda: WC.grad_norm_lower(NET, NAN_X, 0.1), ValueError, "X " + FINITE),
    case("grad_norm_lower radius NaN", lambda: WC.grad_norm_lower(NET, X, np.nan), ValueError,
         "radius must be finite, got nan"),
    case("grad_norm_lower steps float", lambda: WC.grad_norm_lower(NET, X, 0.1, steps=2.5), TypeError,
         "steps must be an integer, got 2.5 of type float"),
    case("grad_norm_lower restarts<0", lambda: WC.grad_norm_lower(NET, X, 0.1, restarts=-1), ValueError,
         "restarts must be >= 0, got -1"),
    case("grad_norm_lower exhaustive_max<0", lambda: WC.grad_norm_lower(NET, X, 0.1, exhaustive_max=-1),
         ValueError, "exhaustive_max must be >= 0, got -1"),
    case("grad_norm_lower fw_steps<0", lambda: WC.grad_norm_lower(NET, X, 0.1, fw_steps=-1), ValueError,
         "fw_steps must be >= 0, got -1"),
    case("grad_norm_lower rng str", lambda: WC.grad_norm_lower(NET, X, 0.1, rng="x"), TypeError, RNG_TYPE + " str"),
    case("grad_norm_upper radius<0", lambda: WC.grad_norm_upper(NET, X, -0.1), ValueError,
         "radius must be >= 0.0, got -0.1"),
    case("grad_norm_upper radius inf", lambda: WC.grad_norm_upper(NET, X, np.inf), ValueError,
         "radius must be finite, got inf"),
    case("grad_norm_upper steps<0", lambda: WC.grad_norm_upper(NET, X, 0.1, steps=-1), ValueError,
         "steps must be >= 0, got -1"),
    case("grad_norm_upper X NaN", lambda: WC.grad_norm_upper(NET, NAN_X, 0.1), ValueError, "X " + FINITE),
    case("grad_norm_upper net str", lambda: WC.grad_norm_upper("net", X, 0.1), TypeError,
         "net must be a boundcheck.Network, got str"),
    case("grad_difference_upper r NaN", lambda: WC.grad_difference_upper(NET, X, np.nan, 0.1), ValueError,
         "r must be finite, got nan"),
    case("grad_difference_upper radius<0", lambda: WC.grad_difference_upper(NET, X, 0.1, -0.1), ValueError,
         "radius must be >= 0.0, got -0.1"),
    case("grad_difference_upper n_directions<0",
         lambda: WC.grad_difference_upper(NET, X, 0.1, 0.1, n_directions=-1), ValueError,
         "n_directions must be >= 0, got -1"),
    case("grad_difference_upper rounds<0", lambda: WC.grad_difference_upper(NET, X, 0.1, 0.1, rounds=-1),
         ValueError, "rounds must be >= 0, got -1"),
    case("grad_difference_upper rng float", lambda: WC.grad_difference_upper(NET, X, 0.1, 0.1, rng=1.5),
         TypeError, RNG_TYPE + " float"),
    case("grad_difference_upper X inf", lambda: WC.grad_difference_upper(NET, INF_X, 0.1, 0.1), ValueError,
         "X " + FINITE),
]


@pytest.mark.parametrize("call, exc, message", WORST_CASES)
def test_worst_cases_reject(call, exc, message):
    check(call, exc, message)


# -------------------------------------------------------------------------------------- robust_lazy.py
# Already in test_robust_lazy.py: sign_zero_positive int, robust_lazy_weights y_or_sign / radius<0 /
# surrogate / temperature / biases, eta<0 and eta shape (segment_gradient_deviation), eta inf (certify_step).

ROBUST_LAZY = [
    case("segment_gradient_deviation eta NaN", lambda: R.segment_gradient_deviation(NET, X, eta=np.nan),
         ValueError, "eta must not contain NaN"),
    case("segment_gradient_deviation eta str", lambda: R.segment_gradient_deviation(NET, X, eta="a"), TypeError,
         "eta must be an array of real numbers, got dtype <U1"),
    case("segment_gradient_deviation X NaN", lambda: R.segment_gradient_deviation(NET, NAN_X, eta=0.1),
         ValueError, "X " + FINITE),
    case("segment_gradient_deviation W NaN", lambda: R.segment_gradient_deviation(NET, X, NAN_W, eta=0.1),
         ValueError, "W " + FINITE),
    case("segment_gradient_deviation batch 0", lambda: R.segment_gradient_deviation(NET, X, eta=0.1, batch=0),
         ValueError, "batch must be >= 1, got 0"),
    case("sufficient_step X NaN", lambda: R.sufficient_step(NET, NAN_X), ValueError, "X " + FINITE),
    case("sufficient_step W shape", lambda: R.sufficient_step(NET, X, W[:, :3]), ValueError, W_SHAPE),
    case("sufficient_step batch 0", lambda: R.sufficient_step(NET, X, batch=0), ValueError,
         "batch must be >= 1, got 0"),
    case("certify_step eta<0", lambda: R.certify_step(NET, X, -0.1), ValueError, "eta must be >= 0, got"),
    case("certify_step eta shape", lambda: R.certify_step(NET, X, np.ones(3)), ValueError,
         "eta of shape (3,) does not broadcast to (K, n) = (2, 5)"),
    case("certify_step X NaN", lambda: R.certify_step(NET, NAN_X, 0.1), ValueError, "X " + FINITE),
    case("certify_step X wrong d", lambda: R.certify_step(NET, np.ones((5, 4)), 0.1), ValueError, X_DIM),
    case("step_margin eta<0", lambda: R.step_margin(NET, X, -0.1), ValueError, "eta must be >= 0.0, got -0.1"),
    case("step_margin eta NaN", lambda: R.step_margin(NET, X, np.nan), ValueError, "eta must be finite, got nan"),
    case("step_margin y_or_sign str", lambda: R.step_margin(NET, X, 0.1, y_or_sign="labels"), ValueError,
         "y_or_sign must be one of 'sign', got 'labels'"),
    case("step_margin y shape", lambda: R.step_margin(NET, X, 0.1, y_or_sign=np.ones(3)), ValueError,
         "y_or_sign must be 'sign' or labels of shape (n,) = (5,), got shape (3,)"),
    case("step_margin y 0/1", lambda: R.step_margin(NET, X, 0.1, y_or_sign=Y01), ValueError,
         "y_or_sign labels must be -1 or +1"),
    case("step_margin X NaN", lambda: R.step_margin(NET, NAN_X, 0.1), ValueError, "X " + FINITE),
    case("step_margin weights NaN", lambda: R.step_margin(NET, X, 0.1, weights=np.full((2, 5), np.nan)),
         ValueError, "weights " + FINITE),
    case("step_margin weights shape", lambda: R.step_margin(NET, X, 0.1, weights=np.ones(3)), ValueError,
         "weights must have shape (2, 5), got (3,)"),
    case("random_lazy_weights radius<0", lambda: R.random_lazy_weights(NET, -1.0), ValueError,
         "radius must be >= 0.0, got -1.0"),
    case("random_lazy_weights radius NaN", lambda: R.random_lazy_weights(NET, np.nan), ValueError,
         "radius must be finite, got nan"),
    case("random_lazy_weights rng str", lambda: R.random_lazy_weights(NET, 1.0, rng="x"), TypeError,
         RNG_TYPE + " str"),
    case("random_lazy_weights net str", lambda: R.random_lazy_weights("net", 1.0), TypeError,
         "net must be a boundcheck.Network, got str"),
    case("robust_lazy_weights eta NaN", lambda: R.robust_lazy_weights(NET, X, "sign", 1.0, np.nan), ValueError,
         "eta must be finite, got nan"),
    case("robust_lazy_weights steps<0", lambda: R.robust_lazy_weights(NET, X, "sign", 1.0, 0.1, steps=-1),
         ValueError, "steps must be >= 0, got -1"),
    case("robust_lazy_weights X NaN", lambda: R.robust_lazy_weights(NET, NAN_X, "sign", 1.0, 0.1), ValueError,
         "X " + FINITE),
    case("robust_lazy_weights y NaN", lambda: R.robust_lazy_weights(NET, X, NAN_Y, 1.0, 0.1), ValueError,
         "y_or_sign " + FINITE),
    case("robust_lazy_weights step_size 0",
         lambda: R.robust_lazy_weights(NET, X, "sign", 1.0, 0.1, step_size=0.0), ValueError,
         "step_size must be > 0.0, got 0.0"),
    case("robust_lazy_weights final_step_size NaN",
         lambda: R.robust_lazy_weights(NET, X, "sign", 1.0, 0.1, final_step_size=np.nan), ValueError,
         "final_step_size must be finite, got nan"),
    case("robust_lazy_weights rng negative", lambda: R.robust_lazy_weights(NET, X, "sign", 1.0, 0.1, rng=-3),
         ValueError, "rng seed must be a non-negative integer, got -3"),
    case("robust_lazy_weights per_point int",
         lambda: R.robust_lazy_weights(NET, X, "sign", 1.0, 0.1, per_point=1), TypeError,
         "per_point must be a bool, got 1"),
    case("robust_lazy_weights keep_witness str",
         lambda: R.robust_lazy_weights(NET, X, "sign", 1.0, 0.1, keep_witness="no"), TypeError,
         "keep_witness must be a bool, got 'no'"),
]


@pytest.mark.parametrize("call, exc, message", ROBUST_LAZY)
def test_robust_lazy_rejects(call, exc, message):
    check(call, exc, message)


# -------------------------------------------------------------------------------------------- train.py
# Already in test_train.py: K > 1, y in {0, 1}, C0 < 0, mode, stop-mode checkpoints, checkpoints > 1,
# X shape, X_test without y_test, b without biases, dtype, projection.

W1 = NET1.W0[0]
Y_LABELS = "y must hold labels in {-1, +1}, found 0"
TRAIN = [
    case("loss_and_gradient W NaN", lambda: T.loss_and_gradient(NET1, NAN_W[:1], None, X, Y), ValueError,
         "W " + FINITE),
    case("loss_and_gradient W shape", lambda: T.loss_and_gradient(NET1, W1[:3], None, X, Y), ValueError,
         "W must have shape (m, d) = (4, 3), got (3, 3)"),
    case("loss_and_gradient X NaN", lambda: T.loss_and_gradient(NET1, W1, None, NAN_X, Y), ValueError,
         "X " + FINITE),
    case("loss_and_gradient y 0/1", lambda: T.loss_and_gradient(NET1, W1, None, X, Y01), ValueError, Y_LABELS),
    case("loss_and_gradient y shape", lambda: T.loss_and_gradient(NET1, W1, None, X, Y[:3]), ValueError,
         "y must have one label per row of X (5), got 3"),
    case("loss_and_gradient K=2", lambda: T.loss_and_gradient(NET, NET.W0, None, X, Y), ValueError,
         "net has K = 2 inits; pick one with net.select(k)"),
    case("evaluate X NaN", lambda: T.evaluate(NET1, W1, None, NAN_X, Y), ValueError, "X " + FINITE),
    case("evaluate W NaN", lambda: T.evaluate(NET1, NAN_W[:1], None, X, Y), ValueError, "W " + FINITE),
    case("evaluate y 0/1", lambda: T.evaluate(NET1, W1, None, X, Y01), ValueError, Y_LABELS),
    case("train_lazy_sgd lr 0", lambda: T.train_lazy_sgd(NET1, X, Y, C0=1.0, lr=0.0), ValueError,
         "lr must be > 0.0, got 0.0"),
    case("train_lazy_sgd lr NaN", lambda: T.train_lazy_sgd(NET1, X, Y, C0=1.0, lr=np.nan), ValueError,
         "lr must be finite, got nan"),
    case("train_lazy_sgd C0 NaN", lambda: T.train_lazy_sgd(NET1, X, Y, C0=np.nan), ValueError,
         "C0 must be finite, got nan"),
    case("train_lazy_sgd batch_size 0", lambda: T.train_lazy_sgd(NET1, X, Y, C0=1.0, batch_size=0), ValueError,
         "batch_size must be >= 1, got 0"),
    case("train_lazy_sgd epochs<0", lambda: T.train_lazy_sgd(NET1, X, Y, C0=1.0, epochs=-1), ValueError,
         "epochs must be >= 0, got -1"),
    case("train_lazy_sgd epochs float", lambda: T.train_lazy_sgd(NET1, X, Y, C0=1.0, epochs=1.5), TypeError,
         "epochs must be an integer, got 1.5 of type float"),
    case("train_lazy_sgd X NaN", lambda: T.train_lazy_sgd(NET1, NAN_X, Y, C0=1.0), ValueError, "X " + FINITE),
    case("train_lazy_sgd shuffle", lambda: T.train_lazy_sgd(NET1, X, Y, C0=1.0, shuffle="never"), ValueError,
         "shuffle must be one of 'once', 'every_epoch', got 'never'"),
    case("train_lazy_sgd target_loss<0", lambda: T.train_lazy_sgd(NET1, X, Y, C0=1.0, target_loss=-1.0),
         ValueError, "target_loss must be >= 0.0, got -1.0"),
    case("train_lazy_sgd log_every 0", lambda: T.train_lazy_sgd(NET1, X, Y, C0=1.0, log_every=0), ValueError,
         "log_every must be >= 1, got 0"),
    case("train_lazy_sgd rng str", lambda: T.train_lazy_sgd(NET1, X, Y, C0=1.0, rng="a"), TypeError,
         RNG_TYPE + " str"),
    case("train_lazy_sgd X_test NaN",
         lambda: T.train_lazy_sgd(NET1, X, Y, C0=1.0, X_test=NAN_X, y_test=Y, epochs=1), ValueError,
         "X_test " + FINITE),
    case("train_lazy_sgd on_step int", lambda: T.train_lazy_sgd(NET1, X, Y, C0=1.0, on_step=3, epochs=1),
         TypeError, "on_step must be callable or None, got int"),
    case("train_adversarial radius<0", lambda: T.train_adversarial(NET1, X, Y, radius=-1.0, eps=0.1), ValueError,
         "radius must be >= 0.0, got -1.0"),
    case("train_adversarial eps<0", lambda: T.train_adversarial(NET1, X, Y, radius=1.0, eps=-0.1), ValueError,
         "eps must be >= 0.0, got -0.1"),
    case("train_adversarial eps NaN", lambda: T.train_adversarial(NET1, X, Y, radius=1.0, eps=np.nan),
         ValueError, "eps must be finite, got nan"),
    case("train_adversarial pgd_steps 0",
         lambda: T.train_adversarial(NET1, X, Y, radius=1.0, eps=0.1, pgd_steps=0), ValueError,
         "pgd_steps must be >= 1, got 0"),
    case("train_adversarial pgd_step_size<0",
         lambda: T.train_adversarial(NET1, X, Y, radius=1.0, eps=0.1, pgd_step_size=-1.0), ValueError,
         "pgd_step_size must be >= 0.0, got -1.0"),
    case("train_adversarial lr 0", lambda: T.train_adversarial(NET1, X, Y, radius=1.0, eps=0.1, lr=0.0),
         ValueError, "lr must be > 0.0, got 0.0"),
    case("train_adversarial batch_size 0",
         lambda: T.train_adversarial(NET1, X, Y, radius=1.0, eps=0.1, batch_size=0), ValueError,
         "batch_size must be >= 1, got 0"),
    case("train_adversarial patience<0",
         lambda: T.train_adversarial(NET1, X, Y, radius=1.0, eps=0.1, patience=-1), ValueError,
         "patience must be >= 0, got -1"),
    case("train_adversarial min_improvement<0",
         lambda: T.train_adversarial(NET1, X, Y, radius=1.0, eps=0.1, min_improvement=-1.0), ValueError,
         "min_improvement must be >= 0.0, got -1.0"),
    case("train_adversarial box low>high",
         lambda: T.train_adversarial(NET1, X, Y, radius=1.0, eps=0.1, box=(1.0, 0.0)), ValueError,
         "box must satisfy low < high, got (1.0, 0.0)"),
    case("train_adversarial test_every 0",
         lambda: T.train_adversarial(NET1, X, Y, radius=1.0, eps=0.1, test_every=0), ValueError,
         "test_every must be >= 1, got 0"),
    case("train_adversarial y 0/1", lambda: T.train_adversarial(NET1, X, Y01, radius=1.0, eps=0.1), ValueError,
         Y_LABELS),
    case("train_adversarial X NaN", lambda: T.train_adversarial(NET1, NAN_X, Y, radius=1.0, eps=0.1),
         ValueError, "X " + FINITE),
    case("train_adversarial attack int",
         lambda: T.train_adversarial(NET1, X, Y, radius=1.0, eps=0.1, attack=3, epochs=1), TypeError,
         "attack must be callable or None, got int"),
]


@pytest.mark.parametrize("call, exc, message", TRAIN)
def test_train_rejects(call, exc, message):
    check(call, exc, message)


# ------------------------------------------------------------------------------------- separability.py
# Already in test_separability.py: clip box violated by X, lp_separable past Cover's capacity.

SEPARABILITY = [
    case("init_multiclass_network d=0", lambda: S.init_multiclass_network(0, 4, 3), ValueError,
         "d must be >= 1, got 0"),
    case("init_multiclass_network m=0", lambda: S.init_multiclass_network(3, 0, 3), ValueError,
         "m must be >= 1, got 0"),
    case("init_multiclass_network n_classes=1", lambda: S.init_multiclass_network(3, 4, 1), ValueError,
         "n_classes must be >= 2, got 1"),
    case("init_multiclass_network init_scale 0", lambda: S.init_multiclass_network(3, 4, 3, init_scale=0.0),
         ValueError, "init_scale must be > 0.0, got 0.0"),
    case("init_multiclass_network init_scale NaN",
         lambda: S.init_multiclass_network(3, 4, 3, init_scale=np.nan), ValueError,
         "init_scale must be finite, got nan"),
    case("init_multiclass_network rng str", lambda: S.init_multiclass_network(3, 4, 3, rng="x"), TypeError,
         RNG_TYPE + " str"),
    case("MulticlassNetwork A NaN",
         lambda: S.MulticlassNetwork(A=np.full((1, 3, 4), np.nan), W0=np.ones((1, 4, 3))), ValueError,
         "A " + FINITE),
    case("MulticlassNetwork A shape", lambda: S.MulticlassNetwork(A=np.ones((1, 3, 5)), W0=np.ones((1, 4, 3))),
         ValueError, "A must have shape (K, C, m) = (1, C, 4) with C >= 2 classes to match W0, got (1, 3, 5)"),
    case("multiclass_forward X NaN", lambda: S.multiclass_forward(MC, NAN_X), ValueError, "X " + FINITE),
    case("multiclass_forward X wrong d", lambda: S.multiclass_forward(MC, np.ones((5, 4))), ValueError, X_DIM),
    case("multiclass_forward batch 0", lambda: S.multiclass_forward(MC, X, batch=0), ValueError,
         "batch must be >= 1, got 0"),
    case("multiclass_input_gradient weights shape", lambda: S.multiclass_input_gradient(MC, X, np.ones((5, 2))),
         ValueError, "weights must have shape (n, C) = (5, 3) or (K, n, C) = (1, 5, 3), got"),
    case("multiclass_input_gradient weights NaN",
         lambda: S.multiclass_input_gradient(MC, X, np.full((5, 3), np.nan)), ValueError, "weights " + FINITE),
    case("cross_entropy_input_gradient y out of range",
         lambda: S.cross_entropy_input_gradient(MC, X, np.array([0, 1, 3, 0, 1])), ValueError,
         "y must hold class labels < 3, got 3"),
    case("cross_entropy_input_gradient y float", lambda: S.cross_entropy_input_gradient(MC, X, YC + 0.5),
         ValueError, "y must hold integer class labels"),
    case("cross_entropy_input_gradient y shape", lambda: S.cross_entropy_input_gradient(MC, X, YC[:3]),
         ValueError, "y must have shape (n,) = (5,), got (3,)"),
    case("one_step_noise eps<0", lambda: S.one_step_noise(NET, X, Y, eps=-0.1), ValueError,
         "eps must be > 0.0, got -0.1"),
    case("one_step_noise eps NaN", lambda: S.one_step_noise(NET, X, Y, eps=np.nan), ValueError,
         "eps must be finite, got nan"),
    case("one_step_noise norm l3", lambda: S.one_step_noise(NET, X, Y, eps=0.1, norm="l3"), ValueError, NORMS),
    case("one_step_noise loss", lambda: S.one_step_noise(NET, X, Y, eps=0.1, loss="hinge"), ValueError,
         "loss must be one of 'logistic', 'exponential', 'squared_hinge', got 'hinge'"),
    case("one_step_noise X NaN", lambda: S.one_step_noise(NET, NAN_X, Y, eps=0.1), ValueError, "X " + FINITE),
    case("one_step_noise y 0/1", lambda: S.one_step_noise(NET, X, Y01, eps=0.1), ValueError,
         "y must hold binary labels in {-1, +1}"),
    case("one_step_noise y shape", lambda: S.one_step_noise(NET, X, Y[:2], eps=0.1), ValueError,
         "y must have shape (n,) = (5,), got (2,)"),
    case("one_step_noise net str", lambda: S.one_step_noise("net", X, Y, eps=0.1), TypeError,
         "net must be a boundcheck.Network (binary) or a MulticlassNetwork, got str"),
    case("one_step_noise clip low>high", lambda: S.one_step_noise(NET, X, Y, eps=0.1, clip=(1.0, 0.0)),
         ValueError, "clip must have low < high, got (1.0, 0.0)"),
    case("one_step_noises norms", lambda: S.one_step_noises(NET, X, Y, eps=0.1, norms=("l3",)), ValueError,
         "norms must be one of 'l2', 'linf', got 'l3'"),
    case("one_step_noises eps<0", lambda: S.one_step_noises(NET, X, Y, eps=-0.1), ValueError,
         "eps must be > 0.0, got -0.1"),
    case("random_labels n float", lambda: S.random_labels(2.5), TypeError,
         "n must be an integer, got 2.5 of type float"),
    case("random_labels n<0", lambda: S.random_labels(-1), ValueError, "n must be >= 0, got -1"),
    case("random_labels n_classes=1", lambda: S.random_labels(5, n_classes=1), ValueError,
         "n_classes must be >= 2, got 1"),
    case("random_labels rng str", lambda: S.random_labels(5, rng="x"), TypeError, RNG_TYPE + " str"),
    case("zero_shot_directions net str", lambda: S.zero_shot_directions("net"), TypeError,
         "net must be a boundcheck.Network (binary) or a MulticlassNetwork, got str"),
    case("signed_margins noises NaN", lambda: S.signed_margins(np.full((2, 5, 3), np.nan), Y, np.ones(3)),
         ValueError, "noises " + FINITE),
    case("signed_margins direction shape", lambda: S.signed_margins(D, Y, np.ones(4)), ValueError,
         "direction must have last dimension d = 3, got shape (4,)"),
    case("signed_margins y 0/1", lambda: S.signed_margins(D, Y01, np.ones(3)), ValueError,
         "y must hold binary labels in {-1, +1}"),
    case("multiclass_margins directions shape", lambda: S.multiclass_margins(D, YC, np.ones((3, 4))), ValueError,
         "directions must have last dimension d = 3, got shape (3, 4)"),
    case("multiclass_margins y out of range", lambda: S.multiclass_margins(D, YC + 5, np.ones((3, 3))),
         ValueError, "y must hold class labels < 3, got 7"),
    case("hebbian_directions y NaN", lambda: S.hebbian_directions(D, NAN_Y), ValueError,
         "y must hold binary labels in {-1, +1}"),
    case("hebbian_directions noises NaN", lambda: S.hebbian_directions(NAN_X, Y), ValueError, "noises " + FINITE),
    case("direction_accuracy direction shape", lambda: S.direction_accuracy(D, Y, np.ones(4)), ValueError,
         "direction must have last dimension d = 3, got shape (4,)"),
    case("logistic_probe lam<0", lambda: S.logistic_probe(X, Y, lam=-1.0), ValueError, "lam must be > 0.0, got -1.0"),
    case("logistic_probe max_iter 0", lambda: S.logistic_probe(X, Y, max_iter=0), ValueError,
         "max_iter must be >= 1, got 0"),
    case("logistic_probe tol 0", lambda: S.logistic_probe(X, Y, tol=0.0), ValueError, "tol must be > 0.0, got 0.0"),
    case("logistic_probe X_train NaN", lambda: S.logistic_probe(NAN_X, Y), ValueError, "X_train " + FINITE),
    case("logistic_probe y_train shape", lambda: S.logistic_probe(X, Y[:3]), ValueError,
         "y_train must have shape (n,) = (5,), got (3,)"),
    case("logistic_probe threads 0", lambda: S.logistic_probe(X, Y, threads=0), ValueError,
         "threads must be >= 1, got 0"),
    case("lp_separable X NaN", lambda: S.lp_separable(NAN_X, Y), ValueError, "X " + FINITE),
    case("lp_separable y shape", lambda: S.lp_separable(X, Y[:2]), ValueError, "y must have shape (n,) = (5,), got (2,)"),
    case("lp_separable time_limit<0", lambda: S.lp_separable(X, Y, time_limit=-1.0), ValueError,
         "time_limit must be > 0.0, got -1.0"),
    case("lp_separable tol<0", lambda: S.lp_separable(X, Y, tol=-1.0), ValueError, "tol must be >= 0.0, got -1.0"),
    case("cover_capacity d=0", lambda: S.cover_capacity(0), ValueError, "d must be >= 1, got 0"),
    case("cover_capacity d float", lambda: S.cover_capacity(2.5), TypeError,
         "d must be an integer, got 2.5 of type float"),
    case("arc_cosine_kernel norm l3", lambda: S.arc_cosine_kernel(X, norm="l3"), ValueError, NORMS),
    case("arc_cosine_kernel X NaN", lambda: S.arc_cosine_kernel(NAN_X), ValueError, "X " + FINITE),
    case("arc_cosine_kernel Z wrong d", lambda: S.arc_cosine_kernel(X, np.ones((2, 4))), ValueError,
         "Z must have d = 3 columns like X, got (2, 4)"),
    case("signed_gram noises NaN", lambda: S.signed_gram(NAN_X, Y), ValueError, "noises " + FINITE),
    case("signed_gram y shape", lambda: S.signed_gram(X, Y[:2]), ValueError, "y must have shape (n,) = (5,), got (2,)"),
    case("kernel_agreement norm l3", lambda: S.kernel_agreement(X, Y, X, norm="l3"), ValueError, NORMS),
    case("kernel_agreement X shape", lambda: S.kernel_agreement(X, Y, X[:2]), ValueError,
         "X must have the shape of noises, (5, 3), got (2, 3)"),
    case("margin_limit norm l3", lambda: S.margin_limit("l3"), ValueError, NORMS),
    case("margin_prediction d=0", lambda: S.margin_prediction(0, 4, "l2"), ValueError, "d must be >= 1, got 0"),
    case("margin_prediction m=0", lambda: S.margin_prediction(3, 0, "l2"), ValueError, "m must be >= 1, got 0"),
    case("margin_prediction norm l3", lambda: S.margin_prediction(3, 4, "l3"), ValueError, NORMS),
    case("reduced_margin_model size 0", lambda: S.reduced_margin_model(3, 4, "l2", size=0), ValueError,
         "size must be >= 1, got 0"),
    case("reduced_margin_model norm l3", lambda: S.reduced_margin_model(3, 4, "l3", size=2), ValueError, NORMS),
    case("reduced_margin_model rng str", lambda: S.reduced_margin_model(3, 4, "l2", size=2, rng="x"), TypeError,
         RNG_TYPE + " str"),
    case("train_gd steps<0", lambda: S.train_gd(NET, X, Y, steps=-1, lr=0.1), ValueError,
         "steps must be >= 0, got -1"),
    case("train_gd lr 0", lambda: S.train_gd(NET, X, Y, steps=2, lr=0.0), ValueError, "lr must be > 0.0, got 0.0"),
    case("train_gd lr NaN", lambda: S.train_gd(NET, X, Y, steps=2, lr=np.nan), ValueError, "lr must be finite, got nan"),
    case("train_gd radius<0", lambda: S.train_gd(NET, X, Y, steps=2, lr=0.1, radius=-1.0), ValueError,
         "radius must be >= 0.0, got -1.0"),
    case("train_gd X NaN", lambda: S.train_gd(NET, NAN_X, Y, steps=2, lr=0.1), ValueError, "X " + FINITE),
    case("train_gd y 0/1", lambda: S.train_gd(NET, X, Y01, steps=2, lr=0.1), ValueError,
         "y must hold binary labels in {-1, +1}"),
    case("train_gd W NaN", lambda: S.train_gd(NET, X, Y, steps=2, lr=0.1, W=NAN_W), ValueError, "W " + FINITE),
]


@pytest.mark.parametrize("call, exc, message", SEPARABILITY)
def test_separability_rejects(call, exc, message):
    check(call, exc, message)


# ------------------------------------------------------------------------------------------- checks.py
# Already in test_lemma_studies.py: compare_to_bound direction, compare_probability trials = 0.


def _ctb(**kw):
    args = dict(bound_id="a", direction="upper", failure_probability=0.1)
    args.update(kw)
    empirical = args.pop("empirical", [1.0, 2.0])
    bound_value = args.pop("bound_value", 1.5)
    return lambda: C.compare_to_bound(empirical, bound_value, **args)


CHECKS = [
    case("compare_to_bound kind", _ctb(kind="guess"), ValueError,
         "kind must be 'exact', 'certified' or 'heuristic', got 'guess'"),
    case("compare_to_bound empirical empty", _ctb(empirical=[]), ValueError,
         "empirical must hold at least one sample"),
    case("compare_to_bound confidence 1", _ctb(confidence=1.0), ValueError, "confidence must be < 1.0, got 1.0"),
    case("compare_to_bound empirical NaN", _ctb(empirical=[1.0, np.nan]), ValueError, "empirical " + FINITE),
    case("compare_to_bound bound_value NaN", _ctb(bound_value=np.nan), ValueError,
         "bound_value must not be NaN"),
    case("compare_to_bound failure_probability 1.5", _ctb(failure_probability=1.5), ValueError,
           "failure_probability must be <= 1.0, got 1.5"),
    case("compare_to_bound failure_probability NaN", _ctb(failure_probability=np.nan), ValueError,
           "failure_probability must be finite, got nan"),
    case("compare_probability successes<0", lambda: C.compare_probability(-1, 10, 0.1, bound_id="p"), ValueError,
         "successes must be >= 0, got -1"),
    case("compare_probability successes>trials", lambda: C.compare_probability(11, 10, 0.1, bound_id="p"),
         ValueError, "need 0 <= successes <= trials and trials >= 1, got 11 of 10"),
    case("compare_probability confidence 0",
         lambda: C.compare_probability(1, 10, 0.1, bound_id="p", confidence=0.0), ValueError,
         "confidence must be > 0.0, got 0.0"),
    case("compare_probability bound_value NaN", lambda: C.compare_probability(1, 10, np.nan, bound_id="p"),
           ValueError, "bound_value must be finite, got nan"),
    case("compare_probability successes float", lambda: C.compare_probability(1.5, 10, 0.1, bound_id="p"),
           TypeError, "successes must be an integer"),
]


@pytest.mark.parametrize("call, exc, message", CHECKS)
def test_checks_reject(call, exc, message):
    check(call, exc, message)


# --------------------------------------------------------------------------------------- montecarlo.py
# Already in test_montecarlo.py: clopper_pearson k/n range, confidence 0/1, k float, k str (types only);
# violation_summary sense / gamma 1 / NaN / shapes / empty; fit_exponent few x, y <= 0, x <= 0, lengths,
# dict input; Grid bad values; run_sweep failing cells, seed None, lambda with workers, workers 0, scheduler.

EMP = [1.0, 2.0, 3.0]
MONTECARLO = [
    case("clopper_pearson k<0 message", lambda: M.clopper_pearson(-1, 10), ValueError,
         "k must satisfy 0 <= k <= n, got k=-1, n=10"),
    case("clopper_pearson k>n message", lambda: M.clopper_pearson(11, 10), ValueError,
         "k must satisfy 0 <= k <= n, got k=11, n=10"),
    case("clopper_pearson n=0 message", lambda: M.clopper_pearson(0, 0), ValueError, "n must be >= 1, got 0"),
    case("clopper_pearson k NaN", lambda: M.clopper_pearson(np.nan, 10), ValueError,
         "k must hold whole numbers, got nan"),
    case("clopper_pearson n float", lambda: M.clopper_pearson(1, 10.5), ValueError,
         "n must hold whole numbers, got 10.5"),
    case("clopper_pearson confidence NaN", lambda: M.clopper_pearson(1, 10, np.nan), ValueError,
         "confidence must be finite, got nan"),
    case("clopper_pearson k, n shapes", lambda: M.clopper_pearson([1, 2], [10, 10, 10]), ValueError,
         "k and n must broadcast together"),
    case("fit_exponent confidence 1", lambda: M.fit_exponent(EMP, EMP, confidence=1.0), ValueError,
         "confidence must be < 1.0, got 1.0"),
    case("fit_exponent x NaN", lambda: M.fit_exponent([1.0, np.nan, 3.0], EMP), ValueError, "x " + FINITE),
    case("fit_exponent y inf", lambda: M.fit_exponent(EMP, [1.0, np.inf, 3.0]), ValueError, "y " + FINITE),
    case("fit_exponent x str", lambda: M.fit_exponent(["a", "b", "c"], EMP), TypeError,
         "x must be an array of real numbers, got dtype <U1"),
    case("violation_summary confidence 1", lambda: M.violation_summary(EMP, 1.0, "upper", 0.1, confidence=1.0),
         ValueError, "confidence must be < 1.0, got 1.0"),
    case("violation_summary gamma<0", lambda: M.violation_summary(EMP, 1.0, "upper", -0.1), ValueError,
         "gamma must be >= 0.0, got -0.1"),
    case("violation_summary gamma NaN", lambda: M.violation_summary(EMP, 1.0, "upper", np.nan), ValueError,
         "gamma must be finite, got nan"),
    case("violation_summary trivial NaN", lambda: M.violation_summary(EMP, 1.0, "upper", 0.1, trivial=np.nan),
         ValueError, "trivial must be finite, got nan"),
    case("tightness sense", lambda: M.tightness(EMP, 1.0, "above", 0.1), ValueError,
         "sense must be one of 'upper', 'lower', got 'above'"),
    case("tightness gamma 1", lambda: M.tightness(EMP, 1.0, "upper", 1.0), ValueError, "gamma must be < 1.0, got 1.0"),
    case("tightness gamma 0", lambda: M.tightness(EMP, 1.0, "upper", 0.0), ValueError, "gamma must be > 0.0, got 0.0"),
    case("tightness method", lambda: M.tightness(EMP, 1.0, "upper", 0.1, method="cubic"), ValueError,
         "'cubic' is not a valid method"),
    case("tightness empirical NaN", lambda: M.tightness([1.0, np.nan], 1.0, "upper", 0.1), ValueError,
         "empirical " + FINITE),
    case("tightness bound NaN", lambda: M.tightness(EMP, np.nan, "upper", 0.1), ValueError,
         "bound must be finite, got nan"),
    case("tightness bound str", lambda: M.tightness(EMP, "1", "upper", 0.1), TypeError,
         "bound must be a real number, got '1' of type str"),
    case("tightness empirical empty", lambda: M.tightness([], 1.0, "upper", 0.1), ValueError,
         "empirical must hold at least one value"),
    case("Grid inf", lambda: M.Grid({"d": [1.0, np.inf]}), ValueError, "grid['d'] value must be finite, got inf"),
    case("run_sweep cell_fn int", lambda: M.run_sweep(3, {"d": [1]}, seed=0, progress=False), TypeError,
         "cell_fn must be callable, got int"),
    case("run_sweep grid scalar", lambda: M.run_sweep(abs, {"d": 3}, seed=0, progress=False), TypeError,
         "grid['d'] must be a list of values (write [3] for a single value), got int"),
    case("run_sweep seed<0", lambda: M.run_sweep(abs, {"d": [1]}, seed=-1, progress=False), ValueError,
         "seed must be >= 0, got -1"),
    case("run_sweep workers float", lambda: M.run_sweep(abs, {"d": [1]}, seed=0, workers=1.5, progress=False),
         TypeError, "workers must be an integer, got 1.5 of type float"),
    case("run_sweep threads_per_worker 0",
         lambda: M.run_sweep(abs, {"d": [1]}, seed=0, threads_per_worker=0, progress=False), ValueError,
         "threads_per_worker must be >= 1, got 0"),
    case("run_sweep config int", lambda: M.run_sweep(abs, {"d": [1]}, seed=0, config=3, progress=False),
         TypeError, "config must be a mapping of JSON-serializable values"),
]


@pytest.mark.parametrize("call, exc, message", MONTECARLO)
def test_montecarlo_rejects(call, exc, message):
    check(call, exc, message)


# -------------------------------------------------------------------------- degenerate inputs: attacks
# Already in test_attacks.py: min_flip_step (exact) and fgm on a zero gradient.

def _inactive_net():
    """Every neuron has w_s = -(1, ..., 1): inactive at the positive points below, so f = 0, grad = 0."""
    return bc.Network(a=np.array([[1.0, -1.0, 1.0]]), W0=-np.ones((1, 3, 2)))


X_POS = np.array([[0.6, 0.8], [1.0, 0.0], [0.3, 0.4]])
Y_POS = np.array([1.0, -1.0, 1.0])


def test_fgsm_zero_gradient_gives_zero_delta():
    net = _inactive_net()
    delta = A.fgsm(net, X_POS, Y_POS, 0.1)
    assert np.array_equal(delta, np.zeros((1, 3, 2)))


@pytest.mark.parametrize("norm", ["l2", "linf"])
@pytest.mark.parametrize("random_start", [False, True])
def test_pgd_all_inactive_layer_gives_finite_answers(norm, random_start):
    net = _inactive_net()
    res = A.pgd(net, X_POS, Y_POS, [0.0, 0.1], norm=norm, steps=3, random_start=random_start, rng=0)
    for field in ("delta", "X_adv", "f_adv", "loss"):
        value = getattr(res, field)
        assert np.isfinite(value).all(), field
    assert res.delta.shape == (2, 1, 3, 2)
    # with eps = 0.1 < 0.3 (the smallest coordinate sum of X_POS, attained at (0.3, 0.4), 0.7 - 0.1*sqrt(2)
    # > 0), every neuron stays inactive: f = 0 and the loss is log 2 everywhere
    assert np.array_equal(res.f_adv, np.zeros((2, 1, 3)))
    assert np.allclose(res.loss, np.log(2.0))
    if not random_start:  # a zero gradient does not move
        assert np.array_equal(res.delta, np.zeros((2, 1, 3, 2)))
    assert np.isfinite(A.robust_error(net, X_POS, Y_POS, 0.1, norm=norm, steps=3)).all()


def test_min_flip_step_grid_on_zero_gradient_is_finite_or_inf_without_nan():
    net = _inactive_net()
    res = A.min_flip_step(net, X_POS, method="grid", grid_step=0.1, max_steps=5)
    for field in ("eta", "delta", "grad_norm", "f"):
        assert not np.isnan(getattr(res, field)).any(), field
    assert np.array_equal(res.grad_norm, np.zeros((1, 3)))
    assert not res.flipped.any()


@pytest.mark.parametrize("parametrization", ["theory", "paper_code"])
def test_attacks_in_dimension_one(parametrization):
    net = bc.init_network(1, 6, 2, parametrization=parametrization, rng=3)
    X1 = np.array([[1.0], [-1.0], [0.5]])
    y1 = np.array([1.0, -1.0, -1.0])
    for delta in (A.fgm(net, X1, y1, 0.2), A.fgsm(net, X1, y1, 0.2)):
        assert delta.shape == (2, 3, 1) and np.isfinite(delta).all()
        assert (np.abs(delta) <= 0.2 + 1e-12).all()
    for norm in ("l2", "linf"):
        res = A.pgd(net, X1, y1, 0.2, norm=norm, steps=4, random_start=True, rng=1)
        assert res.delta.shape == (1, 2, 3, 1)
        assert np.isfinite(res.delta).all() and np.isfinite(res.loss).all()
        assert (np.abs(res.delta) <= 0.2 + 1e-12).all()
    flip = A.min_flip_step(net, X1)
    assert flip.eta.shape == (2, 3)
    assert not np.isnan(flip.eta).any() and not np.isnan(flip.delta).any()
    assert np.isfinite(flip.grad_norm).all() and np.isfinite(flip.f).all()
    assert np.array_equal(A.project_l2(np.array([[3.0], [-0.1]]), 1.0), np.array([[1.0], [-0.1]]))


# ------------------------------------------------------------------------ degenerate inputs: fast path

@pytest.mark.parametrize("d, m, radius", [(1, 5, 0.0), (1, 5, 0.3), (4, 1, 0.0), (1, 1, 2.0)])
def test_sample_at_init_degenerate_sizes_give_finite_answers(d, m, radius):
    s = F.sample_at_init(7, d, m, radius=radius, rng=0)
    for field in ("f", "f_lower", "f_upper", "proj_grad_norm", "grad_norm"):
        value = getattr(s, field)
        assert value.shape == (7,) and np.isfinite(value).all(), field
    assert (s.f_lower <= s.f + 1e-12).all() and (s.f <= s.f_upper + 1e-12).all()
    assert ((0 <= s.n_active) & (s.n_active <= m)).all()
    assert ((0 <= s.max_sign_flips) & (s.max_sign_flips <= m)).all()
    if radius == 0.0:
        assert np.array_equal(s.f_lower, s.f) and np.array_equal(s.f_upper, s.f)
        assert np.array_equal(s.max_sign_flips, np.zeros(7, dtype=np.int64))
    if d == 1:  # the projection P onto x-perp is zero in d = 1
        assert np.allclose(s.proj_grad_norm, 0.0)
